// Neighbourhood normalisation: each image's anomaly parts are divided by the mean of the same part
// over its NEIGHBOURS most similar good images (their out-of-fold values), so an image is compared
// with good images of its own kind. It is what modes (modes.ts) do with a few discrete kinds, made
// continuous: a line of 13 kinds of paper, whose rough kinds score higher than the smooth ones
// even when good, needs no k and no separation test. Similar means near in the standardised
// texture descriptor (modes.ts: per-channel spatial standard deviation of the features).
//
// It can also normalise real anomalies away: an image whose defect changes its texture finds good
// images that are unusual in the same way as its neighbours. So it is a choice of the search
// (select.ts: none, the patch part, or the patch part and the Gaussian), validated like the heads
// on synthetic defects that include large-area changes of appearance (synthetic.ts).
import { float16Tensor, floatTensor, fromHalfBits, int64Tensor, toHalfBits, type GraphBuilder } from './onnx-graph.js';
import { appendTexture, standardisedTextures, texture } from './modes.js';

/** Good images whose mean a part is divided by. */
export const NEIGHBOURS = 10;

/** Which parts are divided by their neighbourhood mean: none, the patch heads, or the patch heads and the Gaussian. */
export type Normalise = 'none' | 'patch' | 'all';
export const NORMALISE_CHOICES: readonly Normalise[] = ['none', 'patch', 'all'];
/**
 * What the search tries on surfaces that are not aligned (on aligned parts only none: select.ts
 * MAX_POSITION_DEPENDENCE): all three. On ELPV cells, aligned, synthetic defects could not see
 * what normalising costs real defects (`all` chose itself in one of three folds, 0.04 AUROC lost
 * there; `patch` in every fold, 0.01–0.017 lost); on paper `all` gains 0.02 over `patch`.
 */
export const SEARCHED_NORMALISE: readonly Normalise[] = ['none', 'patch', 'all'];

/** Raw parts of one sample (anomaly.ts RawParts). */
interface Parts {
  local?: number;
  bank?: number;
  global: number;
}
/** Per sample: what each part is divided by (1 where it is not normalised). */
export interface Divisors {
  local: number;
  bank: number;
  global: number;
}
export const UNIT: Divisors = { local: 1, bank: 1, global: 1 };

export interface Descriptors {
  channels: number;
  /** Per channel: the descriptor is (texture − offset) · scale. */
  offset: Float32Array;
  scale: Float32Array;
  /** [N, C] descriptors of the reference good samples, rounded to float16 as shipped. */
  rows: Float32Array;
}

/** Standardised texture descriptors of the good samples ([C, P] feature maps). */
export function fitDescriptors(features: readonly Float32Array[], channels: number): Descriptors {
  const { offset, scale, rows } = standardisedTextures(features, channels);
  const flat = new Float32Array(rows.length * channels);
  rows.forEach((r, i) => {
    for (let c = 0; c < channels; c++) flat[i * channels + c] = fromHalfBits(toHalfBits(r[c]!));
  });
  return { channels, offset, scale, rows: flat };
}

export function descriptorOf(d: Descriptors, features: Float32Array): Float32Array {
  const t = texture(features, d.channels);
  return Float32Array.from(t, (v, c) => (v - d.offset[c]!) * d.scale[c]!);
}

/**
 * The NEIGHBOURS nearest reference samples of `query` (squared Euclidean distance), skipping the
 * references `skip` names (the sample itself, its image's other tiles, the good image a synthetic
 * defect was made from: a real image never meets its own undamaged copy).
 */
export function neighboursOf(d: Descriptors, query: Float32Array, skip: (ref: number) => boolean = () => false): number[] {
  const c = d.channels;
  const n = d.rows.length / c;
  const best: { i: number; d: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (skip(i)) continue;
    let s = 0;
    for (let j = 0; j < c; j++) s += (query[j]! - d.rows[i * c + j]!) ** 2;
    if (best.length === NEIGHBOURS && s >= best[NEIGHBOURS - 1]!.d) continue;
    best.push({ i, d: s });
    best.sort((a, b) => a.d - b.d);
    if (best.length > NEIGHBOURS) best.pop();
  }
  return best.map((b) => b.i);
}

/** The divisors of a sample with neighbours `nbrs` among goods whose raw parts are `goodRaw`. */
export function divisorsOf(normalise: Normalise, nbrs: readonly number[], goodRaw: readonly Parts[]): Divisors {
  if (normalise === 'none' || nbrs.length === 0) return UNIT;
  const meanOf = (part: keyof Parts): number => nbrs.reduce((s, i) => s + (goodRaw[i]![part] ?? 1), 0) / nbrs.length;
  return { local: meanOf('local'), bank: meanOf('bank'), global: normalise === 'all' ? meanOf('global') : 1 };
}

export interface Neighbourhood {
  normalise: Exclude<Normalise, 'none'>;
  descriptors: Descriptors;
  /** The reference goods' out-of-fold raw parts ([N] each; the parts the model uses). */
  values: { local?: Float32Array; bank?: Float32Array; global?: Float32Array };
}

/**
 * Appends the divisors [1] of the image whose features are `featuresName` [1, C, H, W]: the mean
 * of each normalised part over the NEIGHBOURS nearest reference descriptors. Returns their names
 * by part (absent: not normalised).
 */
export function appendNeighbourhood(b: GraphBuilder, featuresName: string, nb: Neighbourhood): Partial<Record<keyof Parts, string>> {
  const { channels: c, rows } = nb.descriptors;
  const n = rows.length / c;
  const k = Math.min(NEIGHBOURS, n);
  const std = appendTexture(b, featuresName, c, 'visor.nbr');
  const z = b.node('Mul', [b.node('Sub', [std, b.init(floatTensor('visor.nbr.offset', [1, c], nb.descriptors.offset))], 'visor.nbr.centred'), b.init(floatTensor('visor.nbr.scale', [1, c], nb.descriptors.scale))], 'visor.nbr.z'); // [1, C]
  const half = new Uint16Array(c * n);
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      half[j * n + i] = toHalfBits(rows[i * c + j]!);
      norms[i] += rows[i * c + j]! ** 2;
    }
  }
  const refs = b.node('Cast', [b.init(float16Tensor('visor.nbr.refs_t', [c, n], half))], 'visor.nbr.refs_f32', { to: 1 });
  // ‖z‖² is the same for every reference, so ‖r‖² − 2 z·r ranks them.
  const dot = b.node('Mul', [b.node('MatMul', [z, refs], 'visor.nbr.dot'), b.init(floatTensor('visor.nbr.minus_two', [1], new Float32Array([-2])))], 'visor.nbr.dot_m2');
  const negD = b.node('Neg', [b.node('Add', [dot, b.init(floatTensor('visor.nbr.norms', [1, n], norms))], 'visor.nbr.d')], 'visor.nbr.neg_d'); // [1, N]
  const [, idx] = b.nodeMulti('TopK', [negD, b.init(int64Tensor('visor.nbr.k', [k]))], ['visor.nbr.top', 'visor.nbr.idx'], { axis: -1 });
  const flat = b.node('Reshape', [idx!, b.init(int64Tensor('visor.nbr.shape_idx', [k]))], 'visor.nbr.idx_flat');
  const out: Partial<Record<keyof Parts, string>> = {};
  for (const part of ['local', 'bank', 'global'] as const) {
    const v = nb.values[part];
    if (!v) continue;
    const picked = b.node('Gather', [b.init(floatTensor(`visor.nbr.values_${part}`, [n], v)), flat], `visor.nbr.picked_${part}`, { axis: 0 }); // [k]
    out[part] = b.reduce('ReduceMean', picked, [0], 1, `visor.nbr.mean_${part}`); // [1]
  }
  return out;
}
