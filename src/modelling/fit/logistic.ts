// Supervised refinement: L2-regularised logistic regression on image-level features (mean- and
// max-pooled backbone features plus the log anomaly score), class-balanced, fitted with
// accelerated gradient descent on standardised features. The regularisation strength is chosen
// by inner cross-validation on the labelled images only, so nothing is tuned by hand.
import { auroc, kFolds } from './stats.js';

export interface LogisticModel {
  /** Weights on the raw (unstandardised) features; standardisation is folded in. */
  w: Float64Array;
  b: number;
  lambda: number;
}

export const LAMBDAS = [0.3, 0.1, 0.03, 0.01] as const;

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

export function logit(m: LogisticModel, x: ArrayLike<number>): number {
  let z = m.b;
  for (let j = 0; j < m.w.length; j++) z += m.w[j]! * x[j]!;
  return z;
}

/** Fits on rows `x` (all the same length) with labels y (1 = defect). */
export function fitLogistic(x: readonly Float64Array[], y: readonly number[], lambda: number, iterations = 400): LogisticModel {
  const n = x.length;
  const d = x[0]!.length;
  const mu = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const r of x) for (let j = 0; j < d; j++) mu[j] += r[j]! / n;
  for (const r of x) for (let j = 0; j < d; j++) sd[j] += (r[j]! - mu[j]!) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]!) || 1;
  const z = x.map((r) => {
    const o = new Float64Array(d);
    for (let j = 0; j < d; j++) o[j] = (r[j]! - mu[j]!) / sd[j]!;
    return o;
  });
  // Balanced class weights: each class carries half the loss.
  const pos = y.filter((v) => v === 1).length;
  const weight = y.map((v) => (v === 1 ? 0.5 / Math.max(1, pos) : 0.5 / Math.max(1, n - pos)));
  // Lipschitz bound of the gradient: 0.25 · max weight-scaled ‖z‖² summed ≤ 0.25·Σ w_i‖z_i‖², + λ.
  let lip = lambda;
  for (let i = 0; i < n; i++) {
    let s = 1;
    for (let j = 0; j < d; j++) s += z[i]![j]! ** 2;
    lip += 0.25 * weight[i]! * s;
  }
  const step = 1 / lip;
  // Accelerated gradient descent (FISTA). With fewer rows than features (pooled CNN features of
  // a few hundred images) it runs in the span of the rows: w = Σ αᵢ zᵢ, so each step costs n²
  // instead of n·d. Same iterates, up to rounding.
  const { w, b } = n < d ? descendDual(z, y, weight, lambda, step, iterations) : descendPrimal(z, y, weight, lambda, step, iterations);
  // Fold the standardisation into the weights: w·(x−μ)/σ + b = (w/σ)·x + (b − Σ wμ/σ).
  const wr = new Float64Array(d);
  let br = b;
  for (let j = 0; j < d; j++) {
    wr[j] = w[j]! / sd[j]!;
    br -= (w[j]! * mu[j]!) / sd[j]!;
  }
  return { w: wr, b: br, lambda };
}

export function descendPrimal(z: Float64Array[], y: readonly number[], weight: number[], lambda: number, step: number, iterations: number): { w: Float64Array; b: number } {
  const n = z.length;
  const d = z[0]!.length;
  const { v: w, b } = fista(d, iterations, step, lambda, (vw, vb, g) => {
    let gb = 0;
    for (let i = 0; i < n; i++) {
      const r = z[i]!;
      let s = vb;
      for (let j = 0; j < d; j++) s += vw[j]! * r[j]!;
      const e = weight[i]! * (sigmoid(s) - y[i]!);
      gb += e;
      for (let j = 0; j < d; j++) g[j] += e * r[j]!;
    }
    return gb;
  });
  return { w, b };
}

/** descendPrimal in the row span: with w = Σ αᵢzᵢ the gradient Σ eᵢzᵢ + λw is e + λα in α. */
export function descendDual(z: Float64Array[], y: readonly number[], weight: number[], lambda: number, step: number, iterations: number): { w: Float64Array; b: number } {
  const n = z.length;
  const d = z[0]!.length;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k <= i; k++) {
      let s = 0;
      const a = z[i]!;
      const c = z[k]!;
      for (let j = 0; j < d; j++) s += a[j]! * c[j]!;
      gram[i * n + k] = s;
      gram[k * n + i] = s;
    }
  }
  const { v: alpha, b } = fista(n, iterations, step, lambda, (va, vb, g) => {
    let gb = 0;
    for (let i = 0; i < n; i++) {
      let s = vb;
      for (let k = 0; k < n; k++) s += gram[i * n + k]! * va[k]!;
      const e = weight[i]! * (sigmoid(s) - y[i]!);
      gb += e;
      g[i] = e;
    }
    return gb;
  });
  const w = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) w[j] += alpha[i]! * z[i]![j]!;
  return { w, b };
}

/**
 * FISTA on loss(v, b) + λ/2·‖v‖²: `gradient(v, b, g)` adds the loss gradient in v to g (zeroed)
 * and returns its gradient in b (not regularised).
 */
function fista(dim: number, iterations: number, step: number, lambda: number, gradient: (v: Float64Array, b: number, g: Float64Array) => number): { v: Float64Array; b: number } {
  let x = new Float64Array(dim);
  let b = 0;
  let v = new Float64Array(dim);
  let vb = 0;
  let t = 1;
  const g = new Float64Array(dim);
  for (let it = 0; it < iterations; it++) {
    g.fill(0);
    const gb = gradient(v, vb, g);
    const nx = new Float64Array(dim);
    for (let j = 0; j < dim; j++) nx[j] = v[j]! - step * (g[j]! + lambda * v[j]!);
    const nb = vb - step * gb;
    const tn = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const mom = (t - 1) / tn;
    const nv = new Float64Array(dim);
    for (let j = 0; j < dim; j++) nv[j] = nx[j]! + mom * (nx[j]! - x[j]!);
    vb = nb + mom * (nb - b);
    v = nv;
    x = nx;
    b = nb;
    t = tn;
  }
  return { v: x, b };
}

/** Out-of-fold logits for every row: stratified k folds, each fitted with `lambda`. */
export function crossValidatedLogits(x: readonly Float64Array[], y: readonly number[], lambda: number, folds: number, seed: number): number[] {
  const out = new Array<number>(x.length).fill(0);
  for (const held of stratifiedFolds(y, folds, seed)) {
    const heldSet = new Set(held);
    const train = x.map((_, i) => i).filter((i) => !heldSet.has(i));
    const m = fitLogistic(
      train.map((i) => x[i]!),
      train.map((i) => y[i]!),
      lambda,
    );
    for (const i of held) out[i] = logit(m, x[i]!);
  }
  return out;
}

/** The λ with the best inner cross-validated AUROC (ties → the stronger regularisation). */
export function chooseLambda(x: readonly Float64Array[], y: readonly number[], folds: number, seed: number): { lambda: number; aurocs: Record<string, number> } {
  let best: number = LAMBDAS[0];
  let bestAuc = -1;
  const aurocs: Record<string, number> = {};
  for (const lambda of LAMBDAS) {
    const z = crossValidatedLogits(x, y, lambda, folds, seed);
    const auc = auroc(
      z.filter((_, i) => y[i] === 0),
      z.filter((_, i) => y[i] === 1),
    );
    aurocs[String(lambda)] = Math.round(auc * 1000) / 1000;
    if (auc > bestAuc + 1e-9) [best, bestAuc] = [lambda, auc];
  }
  return { lambda: best, aurocs };
}

/** k folds with each class spread evenly (indices). */
export function stratifiedFolds(y: readonly number[], k: number, seed: number): number[][] {
  const folds: number[][] = Array.from({ length: k }, () => []);
  for (const cls of [0, 1]) {
    const idx = y.map((v, i) => (v === cls ? i : -1)).filter((i) => i >= 0);
    const order = kFolds(idx.length, k, seed + cls);
    order.forEach((f, fi) => folds[fi]!.push(...f.map((j) => idx[j]!)));
  }
  return folds;
}
