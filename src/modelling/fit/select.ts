// Choosing the configuration per product without labels. Every candidate is cross-fitted on the
// good images exactly as the calibration does; its out-of-fold scores of held-out good images are
// compared with those of a validation set of defects, and the candidate ranking them apart best
// (AUROC) wins. The defects are the labelled ones when there are enough (`--labels`,
// `--from-store`), else the faint ones of the synthetic defects made on held-out good images
// (synthetic.ts; at full strength nearly every candidate found them all on paper, which told the
// candidates nothing). What the user fixed on the command line is not searched.
//
// Candidates come in two levels: feature candidates (layers, input size; each needs the images'
// features extracted again) and, for each, head choices (local / global / both patch heads, top-k),
// which only re-read the same out-of-fold outputs. The geometry (one view or tiles) is not searched:
// it follows from the good images' sizes and each feature candidate's input size (geometry.ts), and
// the synthetic defects, made on the whole image, go through it as the real images do.
import { HEAD_CHOICES, type HeadChoice } from './anomaly.js';
import { calibrate, imageScores, partsOf, type ModeChoice } from './calibrate.js';
import { rawParts, type CrossFit, type HeldOut, type Sample } from './cross-fit.js';
import { divisorsOf, SEARCHED_NORMALISE, UNIT, type Divisors, type Normalise } from './neighbours.js';
import { modeOf } from './modes.js';
import { auroc } from './stats.js';

export interface FeatureCandidate {
  layers: readonly string[];
  inputSize: number;
  /** Feature grid side; unset: the input size / 32 (features.ts). */
  grid?: number;
}

export interface HeadCandidate {
  head: HeadChoice;
  topK: number;
  /** Which parts are divided by their mean over the image's good neighbours (neighbours.ts). */
  normalise: Normalise;
}

/**
 * Top-k values the search tries (the image score is the mean of the k hottest positions). Only
 * the default: synthetic defects are single compact regions and always favoured k = 1, which
 * cost real castings 0.019 and 0.009 AUROC on two of five folds (docs/fit.md).
 */
export const TOP_K_CHOICES: readonly number[] = [3];
/** Synthetic defects made at most (two per good image for small sets). */
export const MAX_SYNTHETIC = 160;

export interface Tried extends FeatureCandidate, HeadCandidate {
  auroc: number;
}

export function headCandidates(fixed: { head?: HeadChoice; topK?: number; normalise?: Normalise }, defaults: HeadCandidate): HeadCandidate[] {
  const heads = fixed.head ? [fixed.head] : HEAD_CHOICES;
  const ks = fixed.topK !== undefined ? [fixed.topK] : TOP_K_CHOICES;
  const norms = fixed.normalise ? [fixed.normalise] : SEARCHED_NORMALISE;
  const all = norms.flatMap((n) => heads.flatMap((h) => ks.map((k) => ({ head: h, topK: k, normalise: n }))));
  // The defaults first, so a tie keeps them.
  const isDefault = (c: HeadCandidate): boolean => c.head === defaults.head && c.topK === defaults.topK && c.normalise === defaults.normalise;
  return [...all.filter(isDefault), ...all.filter((c) => !isDefault(c))];
}

/** Neighbours (indices of good samples, neighbours.ts) of every good sample and every validation defect. */
export interface NeighbourLists {
  goods: readonly (readonly number[])[];
  defects: readonly (readonly number[])[];
}

/** Each sample's divisors for a candidate: the mean of its neighbours' out-of-fold raw parts. */
export function candidateDivisors(cv: CrossFit, c: HeadCandidate, lists: readonly (readonly number[])[]): Divisors[] {
  if (c.normalise === 'none') return lists.map(() => UNIT);
  const goodRaw = cv.goods.map((h) => rawParts(h, c.topK));
  return lists.map((nbrs) => divisorsOf(c.normalise, nbrs, goodRaw));
}

/**
 * Validation AUROC of every head candidate on one feature candidate's cross-fit: held-out good
 * images (calibrated as the model will be, modes included) against the validation defects. Goods
 * and defects are `tiles` samples per image; an image scores its worst tile's, as on the line.
 */
export function rankHeads(cv: CrossFit, defects: readonly HeldOut[], defectSamples: readonly Sample[], modes: ModeChoice, neighbours: NeighbourLists, candidates: readonly HeadCandidate[], far: number, globalWeight: number, tiles = 1): (HeadCandidate & { auroc: number })[] {
  const defectMode = defectSamples.map((s) => modeOf(modes.modes, s.features));
  return candidates.map((c) => {
    const goodDiv = candidateDivisors(cv, c, neighbours.goods);
    const defectDiv = candidateDivisors(cv, c, neighbours.defects);
    const cal = calibrate({ oof: cv.goods, goodMode: modes.goodMode, k: modes.modes.k, head: c.head, topK: c.topK, far, globalWeight, tiles, divisors: goodDiv });
    const good = imageScores(cv.goods.map((h, i) => partsOf(cal, modes.goodMode[i]!, h, c.topK, goodDiv[i]).score), tiles);
    const bad = imageScores(defects.map((h, i) => partsOf(cal, defectMode[i]!, h, c.topK, defectDiv[i]).score), tiles);
    return { ...c, auroc: Math.round(auroc(good, bad) * 10000) / 10000 };
  });
}

/**
 * How much of the good images' feature variance is explained by the grid position, averaged over
 * channels (0: every position looks alike, as on a randomly shifted surface; 1: each position has
 * its own look, as on aligned parts). `features` are [C, P] maps.
 */
export function positionDependence(features: readonly Float32Array[], channels: number): number {
  const p = features[0]!.length / channels;
  let share = 0;
  for (let c = 0; c < channels; c++) {
    const at = new Float64Array(p);
    let s = 0;
    let s2 = 0;
    for (const f of features) {
      for (let i = 0; i < p; i++) {
        const v = f[c * p + i]!;
        at[i] += v / features.length;
        s += v;
        s2 += v * v;
      }
    }
    const n = features.length * p;
    const mean = s / n;
    const total = s2 / n - mean * mean;
    let between = 0;
    for (let i = 0; i < p; i++) between += (at[i]! - mean) ** 2 / p;
    if (total > 1e-12) share += between / total / channels;
  }
  return share;
}

/**
 * Aligned parts and surfaces that are not aligned are searched differently: the finer grid
 * (DEFAULTS.search.fineGrid, global bank only) and neighbourhood normalisation (neighbours.ts) are
 * tried only where the good images' features depend on position less than this. On aligned
 * parts synthetic defects favoured both, where real defects lose by them: on ELPV cells the finer
 * grid chose itself in one of two folds (0.883 against 0.919), normalising the patch part in every
 * fold (0.010–0.017 below no normalisation on the real defects; docs/fit.md). Measured on 40 good
 * images each: aligned mono cells 0.61, castings 0.62, all ELPV cells 0.28; paper 0.07, shifted
 * textures 0.06.
 */
export const MAX_POSITION_DEPENDENCE = 0.15;

/** Whether good images of this position dependence are aligned parts (undefined: not measured, so not). */
export const isAligned = (dependence: number | undefined): boolean => dependence !== undefined && dependence >= MAX_POSITION_DEPENDENCE;

/**
 * How much a candidate must beat the defaults by to be chosen: a tie-breaker that keeps the
 * defaults (local head) when the validation cannot tell the heads apart. On the development sets
 * labelled and synthetic defects ranked the heads as real defects did (local ahead on ELPV cells
 * and castings by 0.003–0.015, the global bank ahead on paper by 0.003–0.005, where real defects
 * gave it 0.03).
 */
export const MARGIN = 0.002;

/**
 * The margin when the validation is the faint synthetic defects (synthetic.ts): a third of the
 * synthetic defects, near chance, so their AUROC moves more between candidates that are alike. On
 * ELPV cells the global bank came 0.006 ahead of the local head on them in one fold (0.892 against
 * 0.903 on the real defects); on paper the 16×16 bank came 0.024–0.050 ahead of the defaults.
 */
export const FAINT_MARGIN = 0.01;

/** The best candidate if it beats the first (the defaults) by `margin`, else the first. */
export function best<T extends { auroc: number }>(tried: readonly T[], margin = MARGIN): T {
  const top = tried.reduce((a, b) => (b.auroc > a.auroc ? b : a));
  return top.auroc >= tried[0]!.auroc + margin ? top : tried[0]!;
}
