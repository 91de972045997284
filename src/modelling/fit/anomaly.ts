// The calibrated anomaly score: the patch part (the local position-restricted head, the global
// patch bank, or the mean of both) and the Gaussian over max-pooled features, each divided by its
// own out-of-fold good percentile for the image's mode, added with a fixed weight, and divided
// once more by the percentile of that sum, so 1.0 is the defect threshold at the target
// false-alarm rate for every mode; with several modes the result is raised to the mode's exponent,
// which gives every mode's good scores the same spread (calibrate.ts). The heat map is the patch heads' distance divided by their
// normalisers (the mean of the two with both): a position at 1 is as far from every good patch
// as the threshold image's worst positions are.
import { appendGlobal, type GlobalGaussian } from './global.js';
import { appendHead, LOCAL_HEAT, LOCAL_SCORE, type HeadShape } from './head.js';
import { appendMode, type Modes } from './modes.js';
import { appendNeighbourhood, type Neighbourhood } from './neighbours.js';
import { appendPatchBank, BANK_HEAT, BANK_SCORE, type BankShape, type PatchBank } from './patch-bank.js';
import { floatTensor, floatValueInfo, graphBuilder, graphOf, int64Tensor, type ModelProto } from './onnx-graph.js';

export const HEATMAP = 'heatmap';
/** Calibrated anomaly score [1] (1.0 = threshold); the model's `score` unless a supervised head follows. */
export const ANOMALY_SCORE = 'visor.anomaly.score';
/** Normalised patch part and Gaussian part [1] (inputs of the supervised head). */
export const PATCH_PART = 'visor.anomaly.patch';
export const GLOBAL_PART = 'visor.anomaly.global';
/** Normalised patch heat [P] (the heat map before its reshape). */
export const HEAT_PART = 'visor.anomaly.heat';

/** Which patch heads score: position-restricted ("local"), the global patch bank, or both. */
export type HeadChoice = 'local' | 'global' | 'both';
export const HEAD_CHOICES: readonly HeadChoice[] = ['local', 'global', 'both'];
export const usesLocal = (h: HeadChoice): boolean => h !== 'global';
export const usesBank = (h: HeadChoice): boolean => h !== 'local';

/** The fitted patch heads (the ones the choice uses). */
export interface PatchHeads {
  local?: { shape: HeadShape; bank: Float32Array };
  bank?: { shape: BankShape; bank: PatchBank };
}

export interface AnomalyCalibration {
  /** Raw percentiles per mode: each patch head's score (when used), the Gaussian distance, and the combined normalised score. */
  local?: Float32Array;
  bank?: Float32Array;
  global: Float32Array;
  combined: Float32Array;
  /**
   * Per mode, with more than one mode: the exponent the normalised combined score is raised to, so
   * every mode's good scores have the same spread on a log scale (calibrate.ts). Absent: 1.
   */
  exponent?: Float32Array;
  globalWeight: number;
}

/** The calibrated anomaly score of a combined score: (combined / the mode's percentile) ^ the mode's exponent. */
export function calibrated(cal: AnomalyCalibration, mode: number, combined: number): number {
  const normalised = combined / cal.combined[mode]!;
  return cal.exponent ? normalised ** cal.exponent[mode]! : normalised;
}

/** Raw head outputs of one image. */
export interface RawParts {
  local?: number;
  bank?: number;
  global: number;
}

/** patch = mean over the used heads of score / q; combined = patch + w · global / qGlobal (per mode); the calibrated score is combined / qCombined. */
export function combine(cal: AnomalyCalibration, mode: number, raw: RawParts): { patch: number; global: number; combined: number } {
  const parts: number[] = [];
  if (cal.local) parts.push(raw.local! / cal.local[mode]!);
  if (cal.bank) parts.push(raw.bank! / cal.bank[mode]!);
  const patch = parts.reduce((a, b) => a + b, 0) / parts.length;
  const g = raw.global / cal.global[mode]!;
  return { patch, global: g, combined: patch + cal.globalWeight * g };
}

/** The normalised heat of one image (as HEAT_PART computes it). */
export function combineHeat(cal: AnomalyCalibration, mode: number, heat: { local?: Float32Array; bank?: Float32Array }, div: { local: number; bank: number } = { local: 1, bank: 1 }): Float32Array {
  const used = [cal.local ? ([heat.local!, cal.local[mode]! * div.local] as const) : undefined, cal.bank ? ([heat.bank!, cal.bank[mode]! * div.bank] as const) : undefined].filter((u) => u !== undefined);
  const out = new Float32Array(used[0]![0].length);
  for (const [h, q] of used) for (let p = 0; p < out.length; p++) out[p] += h[p]! / q / used.length;
  return out;
}

/**
 * Appends the whole anomaly part (patch heads, global Gaussian, modes, calibration) to the features
 * graph; its calibrated score and heat map are `out`'s tensors (by default ANOMALY_SCORE, HEATMAP).
 */
export function appendAnomaly(model: ModelProto, featuresName: string, grid: { height: number; width: number }, heads: PatchHeads, global: GlobalGaussian, modes: Modes, cal: AnomalyCalibration, neighbourhood?: Neighbourhood, out: AnomalyOutputs = { score: ANOMALY_SCORE, heatmap: HEATMAP }): void {
  if (heads.local) appendHead(model, featuresName, heads.local.shape, heads.local.bank);
  if (heads.bank) appendPatchBank(model, featuresName, heads.bank.shape, heads.bank.bank);
  const b = graphBuilder(model, 'visor.anomaly');
  const distance = appendGlobal(b, featuresName, global);
  const mode = appendMode(b, featuresName, modes);
  const divisors = neighbourhood ? appendNeighbourhood(b, featuresName, neighbourhood) : {};
  // 1 / (the mode's percentile · the image's neighbourhood divisor, when the part has one).
  const perMode = (name: 'local' | 'bank' | 'global' | 'combined', raw: Float32Array, share = 1): string => {
    const inv = b.init(floatTensor(`visor.anomaly.inv_${name}`, [raw.length], raw.map((v) => share / v)));
    const ofMode = mode === null ? inv : b.node('Gather', [inv, mode], `visor.anomaly.inv_${name}_of_mode`, { axis: 0 }); // [1]
    const div = name === 'combined' ? undefined : divisors[name];
    return div === undefined ? ofMode : b.node('Div', [ofMode, div], `visor.anomaly.inv_${name}_of_image`);
  };
  const used = [
    heads.local && cal.local ? { name: 'local' as const, heat: LOCAL_HEAT, score: LOCAL_SCORE, q: cal.local } : undefined,
    heads.bank && cal.bank ? { name: 'bank' as const, heat: BANK_HEAT, score: BANK_SCORE, q: cal.bank } : undefined,
  ].filter((u) => u !== undefined);
  if (used.length === 0) throw new Error('appendAnomaly: no patch head');
  // Each head's heat and score times 1/(q · heads), summed: the mean of the normalised values.
  const sum = (parts: string[], output: string): string => (parts.length === 1 ? b.node('Identity', parts, output) : b.node('Sum', parts, output));
  const inv = used.map((u) => perMode(u.name, u.q, 1 / used.length));
  const heat = sum(used.map((u, i) => b.node('Mul', [u.heat, inv[i]!], `visor.anomaly.heat_${u.name}`)), HEAT_PART);
  b.node('Reshape', [heat, b.init(int64Tensor('visor.anomaly.shape_heatmap', [1, 1, grid.height, grid.width]))], out.heatmap);
  const patch = sum(used.map((u, i) => b.node('Mul', [u.score, inv[i]!], `visor.anomaly.patch_${u.name}`)), PATCH_PART);
  const g = b.node('Mul', [distance, perMode('global', cal.global)], GLOBAL_PART);
  const w = b.init(floatTensor('visor.anomaly.global_weight', [1], new Float32Array([cal.globalWeight])));
  const combined = b.node('Add', [patch, b.node('Mul', [g, w], 'visor.anomaly.global_weighted')], 'visor.anomaly.combined');
  if (!cal.exponent) b.node('Mul', [combined, perMode('combined', cal.combined)], out.score);
  else {
    const normalised = b.node('Mul', [combined, perMode('combined', cal.combined)], 'visor.anomaly.normalised');
    const exponents = b.init(floatTensor('visor.anomaly.exponent', [cal.exponent.length], cal.exponent));
    b.node('Pow', [normalised, mode === null ? exponents : b.node('Gather', [exponents, mode], 'visor.anomaly.exponent_of_mode', { axis: 0 })], out.score);
  }
  graphOf(model).output = [floatValueInfo(out.score, [1]), floatValueInfo(out.heatmap, [1, 1, grid.height, grid.width])];
}

/** Names of an anomaly part's calibrated score [1] and heat map [1, 1, H, W]. */
export interface AnomalyOutputs {
  score: string;
  heatmap: string;
}

/**
 * The mean of calibrated anomaly parts (each 1.0 at its own threshold) as ANOMALY_SCORE, divided
 * by `percentile` (the same percentile of the mean over out-of-fold good images, so 1.0 stays the
 * threshold), and the mean of their heat maps (the same grid) as HEATMAP.
 */
export function appendMeanAnomaly(model: ModelProto, parts: readonly AnomalyOutputs[], percentile: number, grid: { height: number; width: number }): void {
  const b = graphBuilder(model, 'visor.mean');
  const sum = (names: string[], output: string): string => b.node('Sum', names, output);
  const share = b.init(floatTensor('visor.mean.share', [1], new Float32Array([1 / parts.length])));
  const scale = b.init(floatTensor('visor.mean.scale', [1], new Float32Array([1 / (parts.length * percentile)])));
  b.node('Mul', [sum(parts.map((p) => p.score), 'visor.mean.score_sum'), scale], ANOMALY_SCORE);
  b.node('Mul', [sum(parts.map((p) => p.heatmap), 'visor.mean.heat_sum'), share], HEATMAP);
  graphOf(model).output = [floatValueInfo(ANOMALY_SCORE, [1]), floatValueInfo(HEATMAP, [1, 1, grid.height, grid.width])];
}
