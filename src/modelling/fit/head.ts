// The anomaly head: position-restricted nearest neighbour (PatchCore with the search limited to
// the same and the 8 neighbouring grid positions; research/anomaly-heads-on-elpv.md found this
// best on ELPV because parts are roughly, not finely, aligned). Each position keeps a greedy
// k-centre coreset of the good patches seen there. Fitted in TypeScript; appended to the graph
// as plain ONNX ops so the whole model is one file.
import { greedyCentres } from './coreset.js';
import { floatTensor, floatValueInfo, float16Tensor, fromHalfBits, graphBuilder, graphOf, int64Tensor, toHalfBits, type ModelProto } from './onnx-graph.js';

/** Raw distance of every grid position to its nearest good patch [P]. */
export const LOCAL_HEAT = 'visor.head.dist';
/** Raw local score [1]: the mean of the top-k heat values. */
export const LOCAL_SCORE = 'visor.head.local_score';

export interface HeadShape {
  channels: number;
  height: number;
  width: number;
  /** Stored neighbours per position (coreset size; fewer when there are fewer fit images). */
  perPosition: number;
  /** Image score = mean of the top-k heat-map values. */
  topK: number;
}

/** For every position, itself and its 8 neighbours (positions outside the grid repeat the position itself). */
export function neighbourTable(height: number, width: number): number[][] {
  const out: number[][] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const row: number[] = [];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          row.push(yy >= 0 && xx >= 0 && yy < height && xx < width ? yy * width + xx : p);
        }
      }
      out.push(row);
    }
  }
  return out;
}

/**
 * Greedy k-centre coreset of the fit patches at each position, rounded to float16 as shipped.
 * Distances for the selection are taken in the projected space (`projected[i]`: [d, H*W]);
 * the stored vectors are the full features (`features[i]`: [C, H*W]).
 * Returns bank [positions][m][channels].
 */
export function fitCoresets(shape: HeadShape, features: readonly Float32Array[], projected: readonly Float32Array[], d: number): Float32Array {
  const { channels: c, perPosition: m } = shape;
  const positions = shape.height * shape.width;
  const n = features.length;
  const bank = new Float32Array(positions * m * c);
  const rows = new Float32Array(n * d);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < n; i++) {
      const f = projected[i]!;
      for (let j = 0; j < d; j++) rows[i * d + j] = f[j * positions + p]!;
    }
    greedyCentres(rows, n, d, m).forEach((cur, k) => {
      const dst = (p * m + k) * c;
      const src = features[cur]!;
      for (let j = 0; j < c; j++) bank[dst + j] = fromHalfBits(toHalfBits(src[j * positions + p]!));
    });
  }
  return bank;
}

/**
 * Appends the head to a graph whose `featuresName` tensor is [1, C, H, W]:
 * LOCAL_HEAT(p) = min over the 3×3 neighbour positions q of p and the bank entries b of q of ‖x_p − b‖,
 * LOCAL_SCORE = mean of the top-k heat values (both raw; anomaly.ts normalises them).
 */
export function appendHead(model: ModelProto, featuresName: string, shape: HeadShape, bank: Float32Array): void {
  const { channels: c, perPosition: m, topK } = shape;
  const positions = shape.height * shape.width;
  const nb = neighbourTable(shape.height, shape.width);
  // rev[p] = flat indices (q*9 + j) with nb[q][j] === p: the pairs that compare x_p with bank q.
  const rev: number[][] = Array.from({ length: positions }, () => []);
  nb.forEach((row, q) =>
    row.forEach((p, j) => {
      if (p !== q || j === 4) rev[p]!.push(q * 9 + j);
    }),
  );
  for (const r of rev) while (r.length < 9) r.push(r[0]!);

  // Bank stored as [positions, channels, m] float16 (half the file size); squared norms as float32.
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

  const b = graphBuilder(model, 'visor.head');
  const bankT = b.init(float16Tensor('visor.head.bank', [positions, c, m], half));
  const bankNorms = b.init(floatTensor('visor.head.bank_norms', [positions, 1, m], norms));
  const nbIdx = b.init(int64Tensor('visor.head.neighbours', nb.flat()));
  const revIdx = b.init(int64Tensor('visor.head.reverse', rev.flat()));
  const minusTwo = b.init(floatTensor('visor.head.minus_two', [1], new Float32Array([-2])));
  const dims = (name: string, d: number[]): string => b.init(int64Tensor(`visor.head.shape_${name}`, d));

  const flat = b.node('Reshape', [featuresName, dims('cp', [c, positions])], 'visor.head.features_cp');
  const x = b.node('Transpose', [flat], 'visor.head.x', { perm: [1, 0] }); // [P, C]
  const xg0 = b.node('Gather', [x, nbIdx], 'visor.head.xg_flat', { axis: 0 }); // [P*9, C]
  const xg = b.node('Reshape', [xg0, dims('p9c', [positions, 9, c])], 'visor.head.xg');
  const bankF = b.node('Cast', [bankT], 'visor.head.bank_f32', { to: 1 });
  const dot = b.node('MatMul', [xg, bankF], 'visor.head.dot'); // [P, 9, M]
  const sq = b.node('Mul', [xg, xg], 'visor.head.xg_sq');
  const xn = b.reduce('ReduceSum', sq, [2], 1, 'visor.head.xg_norm'); // [P, 9, 1]
  const dot2 = b.node('Mul', [dot, minusTwo], 'visor.head.dot_m2');
  const d2a = b.node('Add', [dot2, xn], 'visor.head.d2a');
  const d2 = b.node('Add', [d2a, bankNorms], 'visor.head.d2'); // [P, 9, M]
  const perPair = b.reduce('ReduceMin', d2, [2], 0, 'visor.head.pair_min'); // [P(bank q), 9]
  const pairFlat = b.node('Reshape', [perPair, dims('p9', [positions * 9])], 'visor.head.pair_flat');
  const back = b.node('Gather', [pairFlat, revIdx], 'visor.head.by_position_flat', { axis: 0 });
  const byPos = b.node('Reshape', [back, dims('p_9', [positions, 9])], 'visor.head.by_position');
  const minD2 = b.reduce('ReduceMin', byPos, [1], 0, 'visor.head.min_d2'); // [P]
  const pos = b.node('Relu', [minD2], 'visor.head.min_d2_pos'); // float rounding can dip below 0
  const dist = b.node('Sqrt', [pos], LOCAL_HEAT);
  const row = b.node('Reshape', [dist, dims('row', [1, positions])], 'visor.head.heat_row');
  const k = b.init(int64Tensor('visor.head.k', [Math.min(topK, positions)]));
  const [top] = b.nodeMulti('TopK', [row, k], ['visor.head.top', 'visor.head.top_idx'], { axis: -1 });
  b.reduce('ReduceMean', top!, [1], 0, LOCAL_SCORE); // [1]
  graphOf(model).output = [floatValueInfo(LOCAL_SCORE, [1]), floatValueInfo(LOCAL_HEAT, [positions])];
}
