// Score → verdict, and which thresholds apply (camera overrides model overrides manifest).
import type { Thresholds, Verdict } from '../common/types.js';

/** Optional overrides, as in the config's `model.thresholds` and `cameras[].thresholds`. */
export interface ThresholdOverrides {
  defect?: number;
  uncertainBand?: number;
}

/**
 * defect if score >= defect; uncertain if score >= defect - uncertainBand; else ok.
 * A score that is not a number (a broken model output) is uncertain: it cannot vouch for the part.
 */
export function decide(score: number, t: Thresholds): Verdict {
  if (Number.isNaN(score)) return 'uncertain';
  if (score >= t.defect) return 'defect';
  if (score >= t.defect - t.uncertainBand) return 'uncertain';
  return 'ok';
}

export function resolveThresholds(manifest: Thresholds, model?: ThresholdOverrides, camera?: ThresholdOverrides): Thresholds {
  return {
    defect: camera?.defect ?? model?.defect ?? manifest.defect,
    uncertainBand: camera?.uncertainBand ?? model?.uncertainBand ?? manifest.uncertainBand,
  };
}
