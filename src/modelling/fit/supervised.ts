// The supervised refinement, with labelled images: a logistic head on pooled backbone features
// (both backbones' when there is a second), the calibrated anomaly parts and heat-map statistics,
// its L2 strength chosen by inner cross-validation and its threshold calibrated on out-of-fold
// logits of the labelled good images. Appended to the same graph; its output is the score.
import type { Sample } from './cross-fit.js';
import type { Parts } from './calibrate.js';
import { FEATURES, SECOND, type FeatureLayout } from './features.js';
import { GLOBAL_PART, HEAT_PART, PATCH_PART } from './anomaly.js';
import { maxPooled } from './global.js';
import { chooseLambda, crossValidatedLogits, fitLogistic, type LogisticModel } from './logistic.js';
import { appendTexture, texture } from './modes.js';
import { floatTensor, graphBuilder, int64Tensor, type ModelProto } from './onnx-graph.js';
import { auroc, mean, quantile } from './stats.js';

export const SCORE = 'score';
/** Labelled defects (and labelled good images) needed before the supervised head is used. */
export const MIN_LABELLED_DEFECTS = 8;

export interface Supervised {
  model: LogisticModel;
  threshold: number;
  band: number;
  heldOutGood: number;
  heldOutDefect: number;
  aurocs: Record<string, number>;
  auroc: number;
  accuracy: number;
}

/** Fits the logistic head on the labelled rows (supervisedRow each) and calibrates its threshold. */
export function fitSupervised(x: Float64Array[], y: number[], folds: number, seed: number, far: number): Supervised {
  const choice = chooseLambda(x, y, folds, seed);
  const z = crossValidatedLogits(x, y, choice.lambda, folds, seed + 7);
  const zGood = z.filter((_, i) => y[i] === 0);
  const zDefect = z.filter((_, i) => y[i] === 1);
  const threshold = quantile(zGood, 1 - far);
  const normalised = (v: number): number => sigmoid(v) / sigmoid(threshold);
  return {
    model: fitLogistic(x, y, choice.lambda),
    threshold,
    band: bandOf(zGood.map(normalised), far),
    heldOutGood: zGood.length,
    heldOutDefect: zDefect.length,
    aurocs: choice.aurocs,
    auroc: auroc(zGood, zDefect),
    accuracy: (zGood.filter((v) => v < threshold).length + zDefect.filter((v) => v >= threshold).length) / z.length,
  };
}

/** Heat-map ranks (0 = hottest) the supervised head reads, as logs; plus the share of positions at or above 1. */
export const HEAT_RANKS = [0, 1, 3, 7] as const;

function heatStats(heat: Float32Array): number[] {
  const sorted = [...heat].sort((a, b) => b - a);
  return [...HEAT_RANKS.map((r) => Math.log(Math.max(sorted[Math.min(r, sorted.length - 1)]!, LOG_EPS))), heat.filter((v) => v >= 1).length / heat.length];
}

/**
 * [mean over the grid per channel, max per channel, spatial std per channel (the same three of
 * the second backbone, when there is one), log local part, log global part, heat statistics].
 * The heat statistics added about 0.006 AUROC on every ELPV fold tried. (Per-channel maxima at
 * each layer's own resolution instead of the grid were tried: no better.)
 */
export function supervisedRow(sample: Pick<Sample, 'features' | 'second'>, layout: FeatureLayout, parts: Pick<Parts, 'patch' | 'global' | 'heat'>, secondLayout?: FeatureLayout): Float64Array {
  const pooled = [pooledStats(sample.features, layout.channels)];
  if (secondLayout) {
    if (!sample.second) throw new Error('supervisedRow: sample has no second-backbone features');
    pooled.push(pooledStats(sample.second, secondLayout.channels));
  }
  const tail = [Math.log(Math.max(parts.patch, LOG_EPS)), Math.log(Math.max(parts.global, LOG_EPS)), ...heatStats(parts.heat)];
  const row = new Float64Array(pooled.reduce((n, p) => n + p.length, 0) + tail.length);
  let at = 0;
  for (const p of [...pooled, tail]) {
    row.set(p, at);
    at += p.length;
  }
  return row;
}

/** [mean, max, spatial std] per channel of [C, P] features. */
function pooledStats(features: Float32Array, c: number): Float64Array {
  const p = features.length / c;
  const out = new Float64Array(3 * c);
  for (let j = 0; j < c; j++) out[j] = mean(features.subarray(j * p, (j + 1) * p));
  out.set(maxPooled(features, c), c);
  out.set(texture(features, c), 2 * c);
  return out;
}
const LOG_EPS = 1e-6;

/** score = sigmoid(w·supervisedRow + b) / sigmoid(threshold), in the graph. */
export function appendLogistic(model: ModelProto, layout: FeatureLayout, m: LogisticModel, threshold: number, secondLayout?: FeatureLayout): void {
  const b = graphBuilder(model, 'visor.logistic');
  const positions = layout.height * layout.width;
  const flat = (name: string, c: number): string => b.init(int64Tensor(`visor.logistic.shape_${name}`, [1, c]));
  // Mean, max and texture of a feature tensor, each [1, C] (pooledStats in the graph).
  const pooled = (tensor: string, c: number, tag: string): string[] => [
    b.node('Reshape', [b.node('GlobalAveragePool', [tensor], `visor.logistic.${tag}gap`), flat(`${tag}c`, c)], `visor.logistic.${tag}gap_flat`),
    b.node('Reshape', [b.node('GlobalMaxPool', [tensor], `visor.logistic.${tag}gmp`), flat(`${tag}c2`, c)], `visor.logistic.${tag}gmp_flat`),
    appendTexture(b, tensor, c, `visor.logistic${tag ? `.${tag.slice(0, -1)}` : ''}`),
  ];
  const stats = [...pooled(FEATURES, layout.channels, ''), ...(secondLayout ? pooled(SECOND, secondLayout.channels, 'second_') : [])];
  const eps = b.init(floatTensor('visor.logistic.eps', [1], new Float32Array([LOG_EPS])));
  const logOf = (part: string, name: string): string =>
    b.node('Reshape', [b.node('Log', [b.node('Max', [part, eps], `visor.logistic.${name}_pos`)], `visor.logistic.log_${name}`), flat(`one_${name}`, 1)], `visor.logistic.log_${name}_flat`);
  // Heat statistics: the values at HEAT_RANKS of the sorted heat (logs), and the share ≥ 1.
  const heatRow = b.node('Reshape', [HEAT_PART, b.init(int64Tensor('visor.logistic.shape_heat', [1, positions]))], 'visor.logistic.heat_row');
  const k = Math.min(HEAT_RANKS[HEAT_RANKS.length - 1]! + 1, positions);
  const [top] = b.nodeMulti('TopK', [heatRow, b.init(int64Tensor('visor.logistic.heat_k', [k]))], ['visor.logistic.heat_top', 'visor.logistic.heat_top_idx'], { axis: -1 });
  const ranks = b.init(int64Tensor('visor.logistic.heat_ranks', HEAT_RANKS.map((r) => Math.min(r, k - 1))));
  const picked = b.node('Gather', [top!, ranks], 'visor.logistic.heat_picked', { axis: 1 }); // [1, ranks]
  const logHeat = b.node('Log', [b.node('Max', [picked, eps], 'visor.logistic.heat_pos')], 'visor.logistic.log_heat');
  const one = b.init(floatTensor('visor.logistic.one', [1], new Float32Array([1])));
  const hot = b.node('Cast', [b.node('Not', [b.node('Less', [heatRow, one], 'visor.logistic.cool')], 'visor.logistic.hot_bool')], 'visor.logistic.hot', { to: 1 });
  const share = b.reduce('ReduceMean', hot, [1], 1, 'visor.logistic.hot_share'); // [1, 1]
  const row = b.node('Concat', [...stats, logOf(PATCH_PART, 'local'), logOf(GLOBAL_PART, 'global'), logHeat, share], 'visor.logistic.row', { axis: 1 }); // [1, d]
  const w = b.init(floatTensor('visor.logistic.w', [m.w.length, 1], Float32Array.from(m.w)));
  const bias = b.init(floatTensor('visor.logistic.b', [1], new Float32Array([m.b])));
  const z = b.node('Add', [b.node('MatMul', [row, w], 'visor.logistic.wx'), bias], 'visor.logistic.logit'); // [1,1]
  const p = b.node('Sigmoid', [z], 'visor.logistic.p');
  const scale = b.init(floatTensor('visor.logistic.scale', [1], new Float32Array([1 / sigmoid(threshold)])));
  const s = b.node('Mul', [p, scale], 'visor.logistic.score_2d');
  b.node('Reshape', [s, b.init(int64Tensor('visor.logistic.shape_score', [1]))], SCORE);
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
/** Uncertain band: 1 − the (1 − 2·far) quantile of normalised good scores, rounded up to 0.01, at least 0.01. */
export function bandOf(goodNormalised: number[], far: number): number {
  const lower = quantile(goodNormalised, 1 - 2 * far);
  return Math.max(0.01, Math.ceil((1 - lower) * 100) / 100);
}
const round3 = (v: number): number => Math.round(v * 1000) / 1000;
