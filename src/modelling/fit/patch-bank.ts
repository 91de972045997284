// The global head: one memory bank of good patches from every grid position (PatchCore). A
// patch's anomaly is its distance to the nearest stored patch wherever it came from, so parts
// that are not aligned (textures, surfaces, parts shifted or rotated in the frame) match their
// like anywhere. The bank is a greedy k-centre coreset of all fit patches, chosen in the random
// projection the extractor outputs, and bounded by `size`: memory, fit time and inference time
// grow with it, not with the number of fit images. The image score is PatchCore's re-weighted
// one: the mean of the top-k heat values times 1 − softmax over the hottest patch's distances to
// its nearest bank entry's `support` bank neighbours (an entry in a sparse region of the bank
// counts less); with k = 1 that is PatchCore's own score. k is the local head's, so the two heads
// are compared and averaged on the same footing (select.ts). Appended to the graph as plain ONNX
// ops like the local head.
import { floatTensor, float16Tensor, fromHalfBits, graphBuilder, int64Tensor, toHalfBits, type ModelProto } from './onnx-graph.js';
import { greedyCentres } from './coreset.js';
import { seededRandom, shuffled } from './stats.js';

/** Raw distance of every grid position to its nearest bank patch [P]. */
export const BANK_HEAT = 'visor.bank.dist';
/** Re-weighting factor of the image score [1] (1 − softmax weight of the nearest entry). */
export const BANK_WEIGHT = 'visor.bank.weight';
/** Raw bank score [1]: BANK_WEIGHT × the mean of the top-k heat values. */
export const BANK_SCORE = 'visor.bank.score';

/**
 * Fit patches the coreset is chosen from at most (a seeded random subset beyond this): the greedy
 * selection costs size × candidates × d, about 1 s of one core at 2048 × 8192 × 32.
 */
export const MAX_CANDIDATES = 8192;
/** Bank neighbours of the nearest entry that the re-weighting compares (PatchCore's b, itself included). */
export const SUPPORT = 9;

export interface BankShape {
  channels: number;
  height: number;
  width: number;
  /** Coreset size (at most; fewer when there are fewer fit patches). */
  size: number;
  topK: number;
}

export interface PatchBank {
  /** Entries actually stored. */
  size: number;
  /** [size, channels], rounded to float16 as shipped. */
  entries: Float32Array;
  /** [size, SUPPORT] indices of each entry's nearest entries (itself first), in projected space. */
  support: Int32Array;
}

/**
 * Greedy k-centre coreset over the patches of all fit images (`features[i]`: [C, P],
 * `projected[i]`: [d, P]). Time O(size · candidates · d), memory O(candidates · d).
 */
export function fitPatchBank(shape: BankShape, features: readonly Float32Array[], projected: readonly Float32Array[], d: number, seed = 1): PatchBank {
  const c = shape.channels;
  const positions = shape.height * shape.width;
  const all = features.length * positions;
  // (image, position) of every candidate patch.
  const picks = all <= MAX_CANDIDATES ? Array.from({ length: all }, (_, i) => i) : shuffled(Array.from({ length: all }, (_, i) => i), seededRandom(seed)).slice(0, MAX_CANDIDATES);
  const n = picks.length;
  const rows = new Float32Array(n * d);
  for (const [r, flat] of picks.entries()) {
    const img = projected[Math.floor(flat / positions)]!;
    const p = flat % positions;
    for (let j = 0; j < d; j++) rows[r * d + j] = img[j * positions + p]!;
  }
  const m = Math.min(shape.size, n);
  const chosen = greedyCentres(rows, n, d, m);
  const entries = new Float32Array(m * c);
  chosen.forEach((r, k) => {
    const flat = picks[r]!;
    const img = features[Math.floor(flat / positions)]!;
    const p = flat % positions;
    for (let j = 0; j < c; j++) entries[k * c + j] = fromHalfBits(toHalfBits(img[j * positions + p]!));
  });
  return { size: m, entries, support: supportTable(rows, chosen, d) };
}

/** For every chosen row, the SUPPORT nearest chosen rows (itself first). */
function supportTable(rows: Float32Array, chosen: readonly number[], d: number): Int32Array {
  const m = chosen.length;
  const b = Math.min(SUPPORT, m);
  const out = new Int32Array(m * SUPPORT);
  const bestD = new Float64Array(b);
  const bestI = new Int32Array(b);
  for (let a = 0; a < m; a++) {
    const oa = chosen[a]! * d;
    bestD.fill(Infinity);
    for (let k = 0; k < m; k++) {
      const ok = chosen[k]! * d;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const diff = rows[oa + j]! - rows[ok + j]!;
        s += diff * diff;
      }
      if (k === a) s = -1; // itself first
      if (s >= bestD[b - 1]!) continue;
      let at = b - 1;
      while (at > 0 && bestD[at - 1]! > s) {
        bestD[at] = bestD[at - 1]!;
        bestI[at] = bestI[at - 1]!;
        at--;
      }
      bestD[at] = s;
      bestI[at] = k;
    }
    for (let j = 0; j < SUPPORT; j++) out[a * SUPPORT + j] = bestI[Math.min(j, b - 1)]!;
  }
  return out;
}

/**
 * Appends the bank head to a graph whose `featuresName` tensor is [1, C, H, W]: BANK_HEAT(p) =
 * min over entries e of ‖x_p − e‖, BANK_WEIGHT and BANK_SCORE as described above (all raw).
 */
export function appendPatchBank(model: ModelProto, featuresName: string, shape: BankShape, bank: PatchBank): void {
  const { channels: c, topK } = shape;
  const positions = shape.height * shape.width;
  const m = bank.size;
  // Entries stored as [C, M] float16 (half the file size); squared norms as float32.
  const half = new Uint16Array(c * m);
  const norms = new Float32Array(m);
  for (let k = 0; k < m; k++) {
    let s = 0;
    for (let j = 0; j < c; j++) {
      const v = bank.entries[k * c + j]!;
      half[j * m + k] = toHalfBits(v);
      s += v * v;
    }
    norms[k] = s;
  }
  const b = graphBuilder(model, 'visor.bank');
  const dims = (name: string, d: number[]): string => b.init(int64Tensor(`visor.bank.shape_${name}`, d));
  const first = b.init(int64Tensor('visor.bank.first', [0]));
  const bankF = b.node('Cast', [b.init(float16Tensor('visor.bank.entries', [c, m], half))], 'visor.bank.entries_f32', { to: 1 });
  const x = b.node('Transpose', [b.node('Reshape', [featuresName, dims('cp', [c, positions])], 'visor.bank.features_cp')], 'visor.bank.x', { perm: [1, 0] }); // [P, C]
  const xn = b.reduce('ReduceSum', b.node('Mul', [x, x], 'visor.bank.x_sq'), [1], 1, 'visor.bank.x_norm'); // [P, 1]
  const dot2 = b.node('Mul', [b.node('MatMul', [x, bankF], 'visor.bank.dot'), b.init(floatTensor('visor.bank.minus_two', [1], new Float32Array([-2])))], 'visor.bank.dot_m2');
  const d2 = b.node('Add', [b.node('Add', [dot2, xn], 'visor.bank.d2a'), b.init(floatTensor('visor.bank.norms', [1, m], norms))], 'visor.bank.d2'); // [P, M]
  const dist = b.node('Sqrt', [b.node('Relu', [b.reduce('ReduceMin', d2, [1], 0, 'visor.bank.min_d2')], 'visor.bank.min_d2_pos')], BANK_HEAT); // [P]
  const row = b.node('Reshape', [dist, dims('row', [1, positions])], 'visor.bank.heat_row');
  const k = b.init(int64Tensor('visor.bank.k', [Math.min(topK, positions)]));
  const [top, topIdx] = b.nodeMulti('TopK', [row, k], ['visor.bank.top', 'visor.bank.top_idx'], { axis: -1 });
  const topMean = b.reduce('ReduceMean', top!, [1], 0, 'visor.bank.top_mean'); // [1]
  // Re-weighting from the hottest patch: its distances to the support of its nearest entry.
  const hottest = b.node('Reshape', [b.node('Gather', [topIdx!, first], 'visor.bank.hottest_2d', { axis: 1 }), dims('one', [1])], 'visor.bank.hottest'); // [1]
  const nearest = b.node('Gather', [b.node('ArgMin', [d2], 'visor.bank.nearest_all', { axis: 1, keepdims: 0 }), hottest], 'visor.bank.nearest', { axis: 0 }); // [1]
  const support = b.init(int64Tensor('visor.bank.support', [...bank.support]));
  const supportOf = b.node('Gather', [b.node('Reshape', [support, dims('support', [m, SUPPORT])], 'visor.bank.support_table'), nearest], 'visor.bank.support_of', { axis: 0 }); // [1, S]
  const d2Row = b.node('Gather', [d2, hottest], 'visor.bank.d2_hottest', { axis: 0 }); // [1, M]
  const supportD2 = b.node('Gather', [d2Row, b.node('Reshape', [supportOf, dims('s', [SUPPORT])], 'visor.bank.support_flat')], 'visor.bank.support_d2', { axis: 1 }); // [1, S]
  const supportDist = b.node('Sqrt', [b.node('Relu', [supportD2], 'visor.bank.support_d2_pos')], 'visor.bank.support_dist');
  const soft = b.node('Softmax', [supportDist], 'visor.bank.softmax', { axis: 1 });
  const own = b.node('Reshape', [b.node('Gather', [soft, first], 'visor.bank.own_2d', { axis: 1 }), dims('w', [1])], 'visor.bank.own');
  const weight = b.node('Sub', [b.init(floatTensor('visor.bank.one', [1], new Float32Array([1]))), own], BANK_WEIGHT);
  b.node('Mul', [weight, topMean], BANK_SCORE);
}
