// Kinds ("modes") of good image. Good parts often come in a few kinds (mono and poly solar cells,
// two suppliers, two colours) whose normal anomaly distances differ; each mode gets its own
// normalisers so the threshold means the same false-alarm rate for every kind. An image's mode is
// the nearest centroid of its texture: the spatial standard deviation of every feature channel
// over the grid, standardised per channel over the good images. On ELPV cells this splits mono
// from poly far more cleanly than mean-pooled features, which follow brightness (docs/fit.md).
// k-means++ with seeded restarts keeps the split stable from fold to fold.
import { floatTensor, int64Tensor, type GraphBuilder } from './onnx-graph.js';
import { seededRandom, transpose } from './stats.js';


export interface Modes {
  /** Number of modes (1 = everything in one mode; no graph nodes are needed). */
  k: number;
  channels: number;
  /** Per channel: the descriptor is (std − offset) · scale. */
  offset: Float32Array;
  scale: Float32Array;
  /** [k, C] centroids in descriptor space. */
  centroids: Float32Array;
}

export const ONE_MODE = (channels: number): Modes => ({ k: 1, channels, offset: new Float32Array(channels), scale: new Float32Array(channels).fill(1), centroids: new Float32Array(channels) });

/** Spatial standard deviation of every channel of a [C, P] feature map. */
export function texture(features: Float32Array, channels: number): Float64Array {
  const p = features.length / channels;
  const out = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < p; i++) {
      const v = features[c * p + i]!;
      s += v;
      s2 += v * v;
    }
    out[c] = Math.sqrt(Math.max(0, s2 / p - (s / p) ** 2));
  }
  return out;
}

/**
 * Smallest separation of two modes required before they are used. Separation is Ashman's D of
 * the two modes' members projected onto the line through their centroids:
 * √2·|m₁ − m₂| / √(s₁² + s₂²). k-means always splits, even one homogeneous kind: cutting a
 * Gaussian in two gives D ≈ 2.7, and giving each half its own threshold then normalises real
 * anomalies away (on poly ELPV cells alone, D = 3.3, two modes cost 0.056 AUROC in 5-fold CV).
 * Distinct kinds sit far apart: mono vs poly cells D = 6.4 (two modes gain 0.015).
 */
export const MIN_SEPARATION = 4;

/** Fits k modes on good images' feature maps ([C, P] each). Returns the modes, each image's mode, and the modes' smallest pairwise separation. */
export function fitModes(features: readonly Float32Array[], channels: number, k: number, seed: number): { modes: Modes; assign: number[]; separation: number } {
  const { offset, scale, rows } = standardisedTextures(features, channels);
  const { centroids, assign } = kMeansPlusPlus(rows, k, seed);
  return { modes: { k, channels, offset, scale, centroids }, assign, separation: separation(rows, k, seed) };
}

/** The texture of every image, standardised per channel over them: (texture − offset) · scale. */
export function standardisedTextures(features: readonly Float32Array[], channels: number): { offset: Float32Array; scale: Float32Array; rows: Float64Array[] } {
  const raw = features.map((f) => texture(f, channels));
  const mean = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (const r of raw) {
    for (let c = 0; c < channels; c++) {
      mean[c] += r[c]! / raw.length;
      sq[c] += r[c]! ** 2 / raw.length;
    }
  }
  const offset = Float32Array.from(mean);
  const scale = Float32Array.from(sq, (s, c) => 1 / (Math.sqrt(Math.max(0, s - mean[c]! ** 2)) + 1e-6));
  return { offset, scale, rows: raw.map((r) => standardise(r, offset, scale)) };
}

/**
 * Smallest Ashman's D over pairs of modes (see MIN_SEPARATION), cross-fitted: modes fitted on
 * every other image are measured on the rest, and the other way round. In-sample, a split of a
 * few dozen images in hundreds of dimensions always looks separated (60 poly cells: 4.1
 * in-sample, 3.7 cross-fitted).
 */
function separation(rows: readonly Float64Array[], k: number, seed: number): number {
  const halves = [rows.filter((_, i) => i % 2 === 0), rows.filter((_, i) => i % 2 === 1)];
  if (k < 2 || halves[1]!.length < 2 * k) return 0;
  const ds = [0, 1].map((h) => {
    const { centroids } = kMeansPlusPlus(halves[h]!, k, seed);
    const other = halves[1 - h]!;
    const assign = other.map((r) => nearest(r, centroids, k));
    return smallestPairwiseD(other, assign, centroids, k);
  });
  return (ds[0]! + ds[1]!) / 2;
}

function smallestPairwiseD(rows: readonly Float64Array[], assign: readonly number[], centroids: Float32Array, k: number): number {
  const c = rows[0]!.length;
  let smallest = Infinity;
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      const dir = new Float64Array(c);
      for (let j = 0; j < c; j++) dir[j] = centroids[b * c + j]! - centroids[a * c + j]!;
      const norm = Math.hypot(...dir) || 1;
      const stats = [a, b].map((m) => {
        const p = rows.filter((_, i) => assign[i] === m).map((r) => r.reduce((s, v, j) => s + (v * dir[j]!) / norm, 0));
        const mean = p.reduce((s, v) => s + v, 0) / Math.max(1, p.length);
        return { n: p.length, mean, variance: p.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, p.length) };
      });
      if (stats[0]!.n < 2 || stats[1]!.n < 2) return 0; // a mode the other half does not reproduce
      smallest = Math.min(smallest, (Math.SQRT2 * Math.abs(stats[0]!.mean - stats[1]!.mean)) / Math.sqrt(stats[0]!.variance + stats[1]!.variance || 1e-12));
    }
  }
  return smallest;
}

/** The mode of one image, as the graph computes it. */
export function modeOf(modes: Modes, features: Float32Array): number {
  if (modes.k === 1) return 0;
  return nearest(standardise(texture(features, modes.channels), modes.offset, modes.scale), modes.centroids, modes.k);
}

/** Appends the mode index [1] (int64) of the `featuresName` map [1, C, H, W]; null with one mode. */
export function appendMode(b: GraphBuilder, featuresName: string, modes: Modes): string | null {
  if (modes.k === 1) return null;
  const c = modes.channels;
  const k = modes.k;
  const std = appendTexture(b, featuresName, c, 'visor.modes');
  const offset = b.init(floatTensor('visor.modes.offset', [1, c], modes.offset));
  const scale = b.init(floatTensor('visor.modes.scale', [1, c], modes.scale));
  const z = b.node('Mul', [b.node('Sub', [std, offset], 'visor.modes.centred'), scale], 'visor.modes.z'); // [1, C]
  const centroidsT = b.init(floatTensor('visor.modes.centroids_t', [c, k], transpose(modes.centroids, k, c)));
  const cn = new Float32Array(k);
  for (let i = 0; i < k; i++) for (let j = 0; j < c; j++) cn[i] += modes.centroids[i * c + j]! ** 2;
  const centroidNorms = b.init(floatTensor('visor.modes.centroid_norms', [1, k], cn));
  const minusTwo = b.init(floatTensor('visor.modes.minus_two', [1], new Float32Array([-2])));
  // ‖z‖² is the same for every centroid, so −2 z·c + ‖c‖² ranks them.
  const dot = b.node('MatMul', [z, centroidsT], 'visor.modes.dot'); // [1, k]
  const d = b.node('Add', [b.node('Mul', [dot, minusTwo], 'visor.modes.dot_m2'), centroidNorms], 'visor.modes.d');
  return b.node('ArgMin', [d], 'visor.modes.mode', { axis: 1, keepdims: 0 }); // [1]
}

/** Appends `texture` of a [1, C, H, W] map as a [1, C] tensor; returns its name. */
export function appendTexture(b: GraphBuilder, featuresName: string, c: number, prefix: string): string {
  const mean = b.reduce('ReduceMean', featuresName, [2, 3], 1, `${prefix}.mean`); // [1, C, 1, 1]
  const meanSq = b.reduce('ReduceMean', b.node('Mul', [featuresName, featuresName], `${prefix}.sq`), [2, 3], 1, `${prefix}.mean_sq`);
  const variance = b.node('Relu', [b.node('Sub', [meanSq, b.node('Mul', [mean, mean], `${prefix}.mean2`)], `${prefix}.var_raw`)], `${prefix}.var`);
  return b.node('Reshape', [b.node('Sqrt', [variance], `${prefix}.std4`), b.init(int64Tensor(`${prefix}.shape_texture`, [1, c]))], `${prefix}.texture`);
}

function standardise(v: Float64Array, offset: Float32Array, scale: Float32Array): Float64Array {
  return v.map((x, c) => (x - offset[c]!) * scale[c]!);
}

function dist2(a: ArrayLike<number>, b: ArrayLike<number>, bOffset = 0): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j]! - b[bOffset + j]!) ** 2;
  return s;
}

function nearest(v: Float64Array, centroids: Float32Array, k: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let q = 0; q < k; q++) {
    const d = dist2(v, centroids, q * v.length);
    if (d < bestD) [best, bestD] = [q, d];
  }
  return best;
}

/** k-means++ seeding, 50 Lloyd iterations, best of 10 seeded restarts by within-cluster sum of squares. */
export function kMeansPlusPlus(rows: readonly Float64Array[], k: number, seed: number, restarts = 10): { centroids: Float32Array; assign: number[] } {
  const c = rows[0]!.length;
  const rand = seededRandom(seed);
  let best: { centroids: Float32Array; assign: number[] } | undefined;
  let bestInertia = Infinity;
  for (let rep = 0; rep < restarts; rep++) {
    let cent: Float64Array[] = [Float64Array.from(rows[Math.floor(rand() * rows.length)]!)];
    while (cent.length < k) {
      const d = rows.map((r) => Math.min(...cent.map((q) => dist2(r, q))));
      let u = rand() * d.reduce((a, b) => a + b, 0);
      let at = 0;
      while (at < rows.length - 1 && u > d[at]!) u -= d[at++]!;
      cent.push(Float64Array.from(rows[at]!));
    }
    let assign = rows.map(() => 0);
    for (let it = 0; it < 50; it++) {
      const next = rows.map((r) => {
        let bi = 0;
        for (let q = 1; q < k; q++) if (dist2(r, cent[q]!) < dist2(r, cent[bi]!)) bi = q;
        return bi;
      });
      const settled = it > 0 && next.every((a, i) => a === assign[i]);
      assign = next;
      const sums = cent.map(() => new Float64Array(c));
      const counts = cent.map(() => 0);
      rows.forEach((r, i) => {
        counts[assign[i]!]! += 1;
        for (let j = 0; j < c; j++) sums[assign[i]!]![j] += r[j]!;
      });
      cent = cent.map((q, qi) => (counts[qi]! > 0 ? sums[qi]!.map((v) => v / counts[qi]!) : q));
      if (settled) break;
    }
    const inertia = rows.reduce((a, r, i) => a + dist2(r, cent[assign[i]!]!), 0);
    if (inertia < bestInertia) {
      bestInertia = inertia;
      const centroids = new Float32Array(k * c);
      cent.forEach((q, i) => centroids.set(q, i * c));
      best = { centroids, assign };
    }
  }
  return best!;
}
