// Calibration of the anomaly score on out-of-fold good images: modes (kinds of good image, each
// with its own normalisers, modes.ts), the percentiles that make 1.0 the threshold at the target
// false-alarm rate, with several modes the exponents that give every mode's good scores the same
// spread, and the calibrated parts of every image that the supervised head reads.
import { ModelPackageError } from '../../common/errors.js';
import { calibrated, combine, combineHeat, usesBank, usesLocal, type AnomalyCalibration, type HeadChoice } from './anomaly.js';
import { rawParts, type HeldOut, type Sample } from './cross-fit.js';
import { worstTiles } from './geometry.js';
import { fitModes, MIN_SEPARATION, modeOf, ONE_MODE, type Modes } from './modes.js';
import { UNIT, type Divisors } from './neighbours.js';
import { quantile } from './stats.js';

/** Good images a mode needs for its own threshold. */
export const MIN_PER_MODE = 20;

export interface ModeChoice {
  modes: Modes;
  /** Separation of the texture split tried (undefined when one mode was asked for). */
  separation?: number;
  /** Mode of every good image, as the graph computes it. */
  goodMode: number[];
  note?: string;
}

/**
 * k-means++ over the good images' textures; the split is used only if every mode has
 * MIN_PER_MODE images and the modes are distinct (separation ≥ MIN_SEPARATION).
 */
export function chooseModes(goods: readonly Sample[], channels: number, wanted: number, seed: number): ModeChoice {
  let modes = ONE_MODE(channels);
  let separation: number | undefined;
  let note: string | undefined;
  if (wanted > 1) {
    const fitted = fitModes(goods.map((g) => g.features), channels, wanted, seed);
    // The mode as the graph will compute it (float32 descriptors and centroids).
    const assigned = goods.map((g) => modeOf(fitted.modes, g.features));
    const sizes = Array.from({ length: wanted }, (_, k) => assigned.filter((a) => a === k).length);
    separation = Math.round(fitted.separation * 1000) / 1000;
    if (Math.min(...sizes) < MIN_PER_MODE) note = `one mode for all images: ${wanted} modes of good images would leave one with ${Math.min(...sizes)} image(s) (< ${MIN_PER_MODE})`;
    else if (fitted.separation < MIN_SEPARATION) note = `one mode for all images: the good images do not fall into ${wanted} distinct kinds (separation ${separation} < ${MIN_SEPARATION})`;
    else modes = fitted.modes;
  }
  return { modes, separation, goodMode: goods.map((g) => modeOf(modes, g.features)), ...(note ? { note } : {}) };
}

/**
 * Normalisers per mode at the target false-alarm rate `far`, from the out-of-fold good outputs
 * (`tiles` samples per image, image by image). Every tile is a sample of the parts' percentiles;
 * the combined one is taken over each image's worst tile, since an image scores its worst tile's,
 * so the false-alarm target holds per image.
 */
export interface CalibrationInput {
  /** Out-of-fold outputs of the good samples. */
  oof: readonly HeldOut[];
  goodMode: readonly number[];
  k: number;
  head: HeadChoice;
  topK: number;
  far: number;
  globalWeight: number;
  /** Samples per image (default 1). */
  tiles?: number;
  /** Per sample, what its parts are divided by first (neighbours.ts; default 1). */
  divisors?: readonly Divisors[];
}

export function calibrate(input: CalibrationInput): AnomalyCalibration {
  const { oof, goodMode, k, head, topK, far, globalWeight, tiles = 1, divisors } = input;
  const raw = oof.map((h, i) => rawParts(h, topK, divisors?.[i]));
  const percentile = (values: readonly number[], m: number): number => quantile(values.filter((_, i) => goodMode[i] === m), 1 - far);
  const perMode = (values: readonly number[]): Float32Array => Float32Array.from({ length: k }, (_, m) => percentile(values, m));
  const partial: AnomalyCalibration = {
    ...(usesLocal(head) ? { local: perMode(raw.map((r) => r.local!)) } : {}),
    ...(usesBank(head) ? { bank: perMode(raw.map((r) => r.bank!)) } : {}),
    global: perMode(raw.map((r) => r.global)),
    combined: new Float32Array(k).fill(1),
    globalWeight,
  };
  if (![...(partial.local ?? []), ...(partial.bank ?? []), ...partial.global].every((t) => t > 0)) {
    throw new ModelPackageError('calibration failed: held-out good images all score 0 (are the good images identical?)');
  }
  const combined = raw.map((r, i) => combine(partial, goodMode[i]!, r).combined);
  const worst = worstTiles(combined, tiles);
  // A mode no image's worst tile falls in keeps the quantiles over its tiles.
  const quantileOfMode = (m: number, q: number): number => {
    const values = worst.filter((i) => goodMode[i] === m).map((i) => combined[i]!);
    return values.length > 0 ? quantile(values, q) : quantile(combined.filter((_, i) => goodMode[i] === m), q);
  };
  const combinedPerMode = Float32Array.from({ length: k }, (_, m) => quantileOfMode(m, 1 - far));
  const exponent = k > 1 ? spreadExponents(combinedPerMode, Float32Array.from({ length: k }, (_, m) => quantileOfMode(m, SPREAD_QUANTILE))) : undefined;
  return { ...partial, combined: combinedPerMode, ...(exponent ? { exponent } : {}) };
}

/** The lower quantile of a mode's good scores that, with the threshold percentile, measures its spread. */
export const SPREAD_QUANTILE = 0.5;

/**
 * Per mode, the exponent that gives every mode's normalised good scores the same spread on a log
 * scale: a mode's score is (combined / its percentile q) ^ e, so its percentile stays at 1 (the
 * false-alarm rate holds per mode) and its median m lands at exp(−L) for every mode, L the mean
 * over modes of ln(q / m). A percentile alone aligns one point of each mode's good scores, not
 * their spread: on ELPV cells poly cells' good scores spread wider than mono cells', so the
 * plainest mono defects ranked below the highest good poly cells (docs/fit.md: ELPV's AUROC
 * 0.913 → 0.923). None (undefined) when a mode's scores do not spread.
 */
export function spreadExponents(q: Float32Array, median: Float32Array): Float32Array | undefined {
  const logSpread = Array.from(q, (v, m) => Math.log(v / median[m]!));
  if (!logSpread.every((l) => Number.isFinite(l) && l > 1e-6)) return undefined;
  const common = logSpread.reduce((a, b) => a + b, 0) / logSpread.length;
  return Float32Array.from(logSpread, (l) => common / l);
}

/** Each image's score (its worst tile's) from per-sample scores, `tiles` consecutive samples per image. */
export function imageScores(scores: readonly number[], tiles: number): number[] {
  return worstTiles(scores, tiles).map((i) => scores[i]!);
}

export interface Parts {
  /** Normalised patch and Gaussian parts and the calibrated anomaly score. */
  patch: number;
  global: number;
  score: number;
  /** Normalised heat [P]. */
  heat: Float32Array;
}

/** The calibrated parts of one sample (`div`: what its parts are divided by first, neighbours.ts). */
export function partsOf(cal: AnomalyCalibration, mode: number, h: HeldOut, topK: number, div: Divisors = UNIT): Parts {
  const c = combine(cal, mode, rawParts(h, topK, div));
  return { patch: c.patch, global: c.global, score: calibrated(cal, mode, c.combined), heat: combineHeat(cal, mode, { local: h.localHeat, bank: h.bankHeat }, div) };
}
