// The supervised head's logistic regression: with fewer images than features it descends in the
// span of the rows (an n×n Gram matrix instead of n·d per step); that must be the same fit.
import { describe, expect, it } from 'vitest';
import { descendDual, descendPrimal, fitLogistic, logit } from '../../../src/modelling/fit/logistic.js';
import { auroc, seededRandom } from '../../../src/modelling/fit/stats.js';

/**
 * n rows of d standard-normal features, every third row a "defect" whose first 40 features are
 * shifted by 0.5 (a defect moves many pooled CNN features a little).
 */
function data(n: number, d: number, seed: number): { x: Float64Array[]; y: number[] } {
  const rand = seededRandom(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const y = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const x = y.map((c) => Float64Array.from({ length: d }, (_, j) => normal() + (j < 40 ? 0.5 * c : 0)));
  return { x, y };
}

describe('logistic regression', () => {
  it('descends to the same weights in the row span as in feature space', () => {
    const { x, y } = data(40, 120, 5);
    const weight = y.map((v) => (v ? 0.5 / y.filter(Boolean).length : 0.5 / y.filter((t) => !t).length));
    const primal = descendPrimal(x, y, weight, 0.03, 0.01, 200);
    const dual = descendDual(x, y, weight, 0.03, 0.01, 200);
    expect(Math.abs(primal.b - dual.b)).toBeLessThan(1e-9);
    let maxDiff = 0;
    let maxW = 0;
    for (let j = 0; j < 120; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(primal.w[j]! - dual.w[j]!));
      maxW = Math.max(maxW, Math.abs(primal.w[j]!));
    }
    expect(maxW).toBeGreaterThan(0.01); // it moved
    expect(maxDiff / maxW).toBeLessThan(1e-9);
  });

  it('learns a signal hidden among many more features than images', () => {
    const train = data(150, 600, 11);
    const test = data(300, 600, 12);
    const m = fitLogistic(train.x, train.y, 0.03);
    const z = test.x.map((r) => logit(m, r));
    // 40 informative features out of 600, 150 images: far from chance on new images.
    expect(auroc(z.filter((_, i) => !test.y[i]), z.filter((_, i) => test.y[i]))).toBeGreaterThan(0.85);
  });
});
