// Calibration of the anomaly score on out-of-fold good images: modes (kinds of good image, each
// with its own normalisers, modes.ts), the percentiles that make 1.0 the threshold at the target
// false-alarm rate, and the calibrated parts of every image that the supervised head reads.
import { ModelPackageError } from '../../common/errors.js';
import { combine, combineHeat, usesBank, usesLocal, type AnomalyCalibration, type HeadChoice } from './anomaly.js';
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
  // A mode no image's worst tile falls in keeps the percentile over its tiles.
  const combinedPerMode = Float32Array.from({ length: k }, (_, m) => {
    const values = worst.filter((i) => goodMode[i] === m).map((i) => combined[i]!);
    return values.length > 0 ? quantile(values, 1 - far) : percentile(combined, m);
  });
  return { ...partial, combined: combinedPerMode };
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
  return { patch: c.patch, global: c.global, score: c.combined / cal.combined[mode]!, heat: combineHeat(cal, mode, { local: h.localHeat, bank: h.bankHeat }, div) };
}
