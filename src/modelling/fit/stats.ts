// Numeric helpers for fitting and evaluating models (plain TypeScript, float64).

/** Deterministic PRNG (mulberry32) so the split is reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Area under the ROC curve; ties count half. */
export function auroc(negatives: readonly number[], positives: readonly number[]): number {
  if (negatives.length === 0 || positives.length === 0) return Number.NaN;
  const all = [...negatives.map((s) => ({ s, p: 0 })), ...positives.map((s) => ({ s, p: 1 }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]!.p === 1) rankSum += rank;
    i = j;
  }
  const np = positives.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * negatives.length);
}

/** Quantile with linear interpolation between order statistics (numpy's default). */
export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Average precision (area under the precision-recall curve, step-wise as scikit-learn computes it). */
export function averagePrecision(negatives: readonly number[], positives: readonly number[]): number {
  if (positives.length === 0) return Number.NaN;
  const all = [...negatives.map((s) => ({ s, p: 0 })), ...positives.map((s) => ({ s, p: 1 }))].sort((a, b) => b.s - a.s);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) {
      if (all[j]!.p === 1) tp++;
      else fp++;
      j++;
    }
    const recall = tp / positives.length;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
    i = j;
  }
  return ap;
}

/**
 * Recall of positives at the strictest threshold whose false-positive rate on the negatives is
 * at most `fpr` (a positive counts when its score is strictly above the highest allowed negative).
 */
export function recallAtFpr(negatives: readonly number[], positives: readonly number[], fpr: number): number {
  if (negatives.length === 0 || positives.length === 0) return Number.NaN;
  const neg = [...negatives].sort((a, b) => b - a);
  const allowed = Math.floor(fpr * neg.length);
  // Threshold just above the (allowed+1)-th highest negative: at most `allowed` negatives exceed it.
  const t = neg[allowed]!;
  return positives.filter((s) => s > t).length / positives.length;
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length === 0 ? Number.NaN : s / xs.length;
}

/** Splits indices 0..n-1 into k folds after a seeded shuffle; fold f is the held-out part. */
export function kFolds(n: number, k: number, seed: number): number[][] {
  const order = shuffled(Array.from({ length: n }, (_, i) => i), seededRandom(seed));
  const folds: number[][] = Array.from({ length: k }, () => []);
  order.forEach((idx, i) => folds[i % k]!.push(idx));
  return folds;
}

/** Transpose of a row-major [rows, cols] matrix. */
export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}
