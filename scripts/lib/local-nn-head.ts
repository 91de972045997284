// A position-restricted nearest-neighbour anomaly head (PatchCore-like, per-position coreset),
// fitted in TypeScript and appended to the backbone graph as plain ONNX ops (opset 11).
import { floatTensor, graphOf, floatValueInfo, float16Tensor, fromHalfBits, graphBuilder, int64Tensor, toHalfBits, type ModelProto } from './onnx-graph.js';

export const SCORE_NAME = 'score';
export const HEATMAP_NAME = 'heatmap';
export const NORM_NAME = 'visor.head.norm';

export interface HeadShape {
  /** Feature channels. */
  channels: number;
  /** Feature map side (positions = grid²). */
  grid: number;
  /** Stored neighbours (coreset size) per position. */
  perPosition: number;
  /** Image score = mean of the top-k heat-map values. */
  topK: number;
}

/** For every position, itself and its 8 neighbours (edges repeat the position itself to keep 9). */
export function neighbourTable(grid: number): number[][] {
  const out: number[][] = [];
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      const p = y * grid + x;
      const row: number[] = [];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          row.push(yy >= 0 && xx >= 0 && yy < grid && xx < grid ? yy * grid + xx : p);
        }
      }
      out.push(row);
    }
  }
  return out;
}

/**
 * Greedy k-centre coreset of the fit patches at each position, rounded to float16 as shipped.
 * `patchAt(image, position, out)` writes one feature vector. Returns bank [positions][m][channels].
 */
export function fitCoresets(
  shape: HeadShape,
  images: number,
  patchAt: (image: number, position: number, out: Float32Array) => void,
): Float32Array {
  const { channels: c, grid, perPosition: m } = shape;
  const positions = grid * grid;
  const bank = new Float32Array(positions * m * c);
  const rows = new Float32Array(images * c);
  const dmin = new Float64Array(images);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < images; i++) patchAt(i, p, rows.subarray(i * c, (i + 1) * c));
    // Start at the patch nearest the mean: deterministic and typical.
    const mean = new Float64Array(c);
    for (let i = 0; i < images; i++) for (let j = 0; j < c; j++) mean[j] += rows[i * c + j]! / images;
    let cur = 0;
    let best = Infinity;
    for (let i = 0; i < images; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += (rows[i * c + j]! - mean[j]!) ** 2;
      if (s < best) [best, cur] = [s, i];
    }
    dmin.fill(Infinity);
    for (let k = 0; k < m; k++) {
      const dst = (p * m + k) * c;
      for (let j = 0; j < c; j++) bank[dst + j] = fromHalfBits(toHalfBits(rows[cur * c + j]!));
      let far = -1;
      let next = 0;
      for (let i = 0; i < images; i++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += (rows[i * c + j]! - rows[cur * c + j]!) ** 2;
        if (s < dmin[i]!) dmin[i] = s;
        if (dmin[i]! > far) [far, next] = [dmin[i]!, i];
      }
      cur = next;
    }
  }
  return bank;
}

/**
 * Appends the head to a graph whose `featuresName` output is [1, channels, grid, grid]:
 * heat(p) = norm · min over the 3×3 neighbour positions q of p and the bank entries b of q of ‖x_p − b‖,
 * score = mean of the top-k heat values. `norm` starts at 1 and is set after calibration.
 */
export function appendHead(model: ModelProto, featuresName: string, shape: HeadShape, bank: Float32Array): void {
  const { channels: c, grid, perPosition: m, topK } = shape;
  const positions = grid * grid;
  const nb = neighbourTable(grid);
  // rev[p] = flat indices (q*9 + j) with nb[q][j] === p: the pairs that compare x_p with bank q.
  const rev: number[][] = Array.from({ length: positions }, () => []);
  nb.forEach((row, q) => row.forEach((p, j) => {
    if (p !== q || j === 4) rev[p]!.push(q * 9 + j);
  }));
  for (const r of rev) while (r.length < 9) r.push(r[0]!);

  // Bank stored as [positions, channels, m] float16; its squared norms as float32.
  const half = new Uint16Array(positions * c * m);
  const norms = new Float32Array(positions * m);
  for (let p = 0; p < positions; p++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      for (let j = 0; j < c; j++) {
        const v = bank[(p * m + k) * c + j]!;
        half[(p * c + j) * m + k] = toHalfBits(v);
        s += v * v;
      }
      norms[p * m + k] = s;
    }
  }

  const g = graphOf(model);
  const b = graphBuilder(model, 'visor.head');
  const bankT = b.init(float16Tensor('visor.head.bank', [positions, c, m], half));
  const bankNorms = b.init(floatTensor('visor.head.bank_norms', [positions, 1, m], norms));
  const nbIdx = b.init(int64Tensor('visor.head.neighbours', nb.flat()));
  const revIdx = b.init(int64Tensor('visor.head.reverse', rev.flat()));
  const norm = b.init(floatTensor(NORM_NAME, [1], new Float32Array([1])));
  const minusTwo = b.init(floatTensor('visor.head.minus_two', [1], new Float32Array([-2])));
  const dimsInit = (name: string, dims: number[]): string => b.init(int64Tensor(`visor.head.shape_${name}`, dims));

  const flat = b.node('Reshape', [featuresName, dimsInit('cp', [c, positions])], 'visor.head.features_cp');
  const x = b.node('Transpose', [flat], 'visor.head.x', { perm: [1, 0] }); // [P, C]
  // Gather each position's 9 neighbours' feature vectors: [P*9, C] → [P, 9, C]
  const xg0 = b.node('Gather', [x, nbIdx], 'visor.head.xg_flat', { axis: 0 });
  const xg = b.node('Reshape', [xg0, dimsInit('p9c', [positions, 9, c])], 'visor.head.xg');
  const bankF = b.node('Cast', [bankT], 'visor.head.bank_f32', { to: 1 });
  const dot = b.node('MatMul', [xg, bankF], 'visor.head.dot'); // [P, 9, M]
  const sq = b.node('Mul', [xg, xg], 'visor.head.xg_sq');
  const xn = b.node('ReduceSum', [sq], 'visor.head.xg_norm', { axes: [2], keepdims: 1 }); // [P, 9, 1]
  const dot2 = b.node('Mul', [dot, minusTwo], 'visor.head.dot_m2');
  const d2a = b.node('Add', [dot2, xn], 'visor.head.d2a');
  const d2 = b.node('Add', [d2a, bankNorms], 'visor.head.d2'); // [P, 9, M]
  const perPair = b.node('ReduceMin', [d2], 'visor.head.pair_min', { axes: [2], keepdims: 0 }); // [P(bank q), 9]
  const pairFlat = b.node('Reshape', [perPair, dimsInit('p9', [positions * 9])], 'visor.head.pair_flat');
  const back = b.node('Gather', [pairFlat, revIdx], 'visor.head.by_position_flat', { axis: 0 });
  const byPos = b.node('Reshape', [back, dimsInit('p_9', [positions, 9])], 'visor.head.by_position');
  const minD2 = b.node('ReduceMin', [byPos], 'visor.head.min_d2', { axes: [1], keepdims: 0 }); // [P]
  const pos = b.node('Relu', [minD2], 'visor.head.min_d2_pos'); // float rounding can dip below 0
  const dist = b.node('Sqrt', [pos], 'visor.head.dist');
  const heat = b.node('Mul', [dist, norm], 'visor.head.heat');
  b.node('Reshape', [heat, dimsInit('heatmap', [1, 1, grid, grid])], HEATMAP_NAME);
  const row = b.node('Reshape', [heat, dimsInit('row', [1, positions])], 'visor.head.heat_row');
  const k = b.init(int64Tensor('visor.head.k', [topK]));
  const [top] = b.nodeMulti('TopK', [row, k], ['visor.head.top', 'visor.head.top_idx'], { axis: -1 });
  b.node('ReduceMean', [top!], SCORE_NAME, { axes: [1], keepdims: 0 }); // [1]
  g.output = [floatValueInfo(SCORE_NAME, [1]), floatValueInfo(HEATMAP_NAME, [1, 1, grid, grid])];
}
