// Thresholds as the settings page handles them: the bounds a value must keep (the model's
// score range, the band below the threshold), how big a change is, and where the value in
// force came from (model, config file, the UI, the module twin, a direct method).
import type { Bus } from '../line/bus.js';
import type { Thresholds } from '../common/types.js';

export type ThresholdSourceKind = 'model' | 'config' | 'ui' | 'twin' | 'method';

export interface ThresholdSource {
  kind: ThresholdSourceKind;
  /** The user, for a change in the UI. */
  by?: string;
  /** When it was set (undefined: at start). */
  at?: number;
  /** The module twin has set this camera's thresholds since start: it sets them again on every reconnect and restart. */
  twin?: boolean;
}

/** The scores a model can give: probabilities for classification and detection, distances (≥ 0) for anomaly models. */
export function scoreRange(task: string): { min: number; max?: number } {
  return task === 'anomaly' ? { min: 0 } : { min: 0, max: 1 };
}

/**
 * What is wrong with these thresholds for a model of `task`, per field, in sentences; empty when
 * nothing is. A defect threshold at or below the lowest score would make every frame a defect,
 * one above the highest no frame; a band as wide as the threshold would put every ok frame in review.
 */
export function thresholdProblems(t: Thresholds, task: string): Partial<Record<keyof Thresholds, string>> {
  const range = scoreRange(task);
  const problems: Partial<Record<keyof Thresholds, string>> = {};
  if (!Number.isFinite(t.defect) || t.defect <= range.min) problems.defect = `The defect threshold must be above ${range.min}: at ${t.defect} every frame would be a defect.`;
  else if (range.max !== undefined && t.defect > range.max) problems.defect = `This model's scores are between ${range.min} and ${range.max}: a defect threshold of ${t.defect} would flag no frame.`;
  if (!Number.isFinite(t.uncertainBand) || t.uncertainBand < 0) problems.uncertainBand = 'The uncertain band cannot be negative.';
  else if (!problems.defect && t.uncertainBand >= t.defect - range.min)
    problems.uncertainBand = `The uncertain band must be narrower than the defect threshold (${t.defect}): at ${t.uncertainBand} every ok frame would go to review.`;
  return problems;
}

/** The largest relative move of the defect threshold or the start of the uncertain band. */
export function changeSize(before: Thresholds, after: Thresholds): number {
  const rel = (a: number, b: number) => (a === b ? 0 : Math.abs(b - a) / Math.max(Math.abs(a), 1e-9));
  return Math.max(rel(before.defect, after.defect), rel(before.defect - before.uncertainBand, after.defect - after.uncertainBand));
}

/** The line control's `source` of a change (see LineControl.setThresholds) as the UI names it. */
export function sourceOf(source: string, at: number): ThresholdSource {
  if (source.startsWith('review:')) return { kind: 'ui', by: source.slice('review:'.length), at };
  if (source === 'twin') return { kind: 'twin', at };
  if (source === 'method') return { kind: 'method', at };
  return { kind: 'model', at };
}

export interface ThresholdSources {
  get(cameraId: string): ThresholdSource;
  close(): void;
}

/** Follows every threshold change on the bus; before the first, a camera's value comes from the config file or the model. */
export function trackThresholdSources(deps: { bus: Bus; configured: (cameraId: string) => boolean; now: () => number }): ThresholdSources {
  const latest = new Map<string, ThresholdSource>();
  const byTwin = new Set<string>();
  const off = deps.bus.on('thresholds', ({ cameraId, source }) => {
    if (source === 'twin') byTwin.add(cameraId);
    latest.set(cameraId, sourceOf(source, deps.now()));
  });
  return {
    get: (cameraId) => ({ ...(latest.get(cameraId) ?? { kind: deps.configured(cameraId) ? 'config' : 'model' }), ...(byTwin.has(cameraId) ? { twin: true } : {}) }),
    close: off,
  };
}
