// Calibration of tiled images (a strip or a large photo is several input tiles): the folds of the
// cross-fit go over images, so a held-out image's tiles are never in the bank that scores it, and
// the combined threshold is set on each image's worst tile, so the false-alarm target holds per
// image, as the line scores an image by its worst tile.
import { describe, expect, it } from 'vitest';
import { calibrate, imageScores, partsOf } from '../../../src/modelling/fit/calibrate.js';
import { crossFit, rawParts, type HeadPlan, type HeldOut, type Sample } from '../../../src/modelling/fit/cross-fit.js';
import { auroc, seededRandom } from '../../../src/modelling/fit/stats.js';

const C = 6;
const H = 3;
const W = 3;
const P = H * W;

describe('calibration of tiled images', () => {
  it('holds a whole image out of the bank: a tile never meets its own copy', async () => {
    // 20 images of 2 tiles each; an image's two tiles are the same features (as overlapping tiles
    // nearly are), so a bank holding one scores the other 0.
    const rand = seededRandom(5);
    const tiles = 2;
    const goods: Sample[] = [];
    for (let i = 0; i < 20; i++) {
      const features = Float32Array.from({ length: C * P }, () => rand() * 4 - 2);
      for (let t = 0; t < tiles; t++) goods.push({ file: `image${i}.png`, features, projected: features });
    }
    const plan: HeadPlan = { layout: { channels: C, height: H, width: W, layers: [] }, projectionDims: C, opset: 17, heads: 'local', perPosition: 1000, bankSize: 100, topK: 1, seed: 1 };
    const cv = await crossFit(plan, goods, 5, tiles, []);
    for (const [f, held] of cv.folds.entries()) {
      // Both tiles of an image are in the same fold.
      for (const i of held) expect(held, `fold ${f}`).toContain(i % 2 === 0 ? i + 1 : i - 1);
    }
    const local = cv.goods.map((h) => rawParts(h, 1).local!);
    expect(Math.min(...local)).toBeGreaterThan(0.5);
  });

  it('sets the threshold on each image’s worst tile: the false-alarm target holds per image', () => {
    const rand = seededRandom(9);
    const images = 200;
    const tiles = 3;
    const far = 0.05;
    const oof: HeldOut[] = Array.from({ length: images * tiles }, () => ({ localHeat: Float32Array.of(1 + rand()), global: 1 + rand() }));
    const goodMode = oof.map(() => 0);
    const cal = calibrate({ oof, goodMode, k: 1, head: 'local', topK: 1, far, globalWeight: 0.5, tiles });
    const scores = imageScores(oof.map((h, i) => partsOf(cal, goodMode[i]!, h, 1).score), tiles);
    expect(scores).toHaveLength(images);
    // At a 5% target, 10 of 200 held-out good images score above 1 (a threshold over tiles
    // would let about 1 − 0.95³ ≈ 14% of them, some 28, raise a false alarm).
    expect(scores.filter((s) => s > 1).length).toBeLessThanOrEqual(Math.ceil(far * images));
    expect(scores.filter((s) => s > 1).length).toBeGreaterThanOrEqual(Math.floor(far * images) - 1);
  });
});

describe('calibration of two kinds of good image', () => {
  // Two kinds whose good scores spread differently, as ELPV's mono cells (narrow) and poly cells
  // (wide): on a log scale kind A's good scores are N(0, 0.05²), kind B's N(0, 0.5²), and each
  // kind's defects sit 3 of its own standard deviations higher. Both parts of the score move together.
  const far = 0.05;
  const spreads = [0.05, 0.5];
  const gauss = (rand: () => number): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const draw = (rand: () => number, kind: number, shift: number): HeldOut => {
    const z = gauss(rand) + shift;
    return { localHeat: Float32Array.of(Math.exp(spreads[kind]! * z)), global: 10 * Math.exp(spreads[kind]! * (z + 0.3 * gauss(rand))) };
  };
  const set = (seed: number, n: number, shift: number) => {
    const rand = seededRandom(seed);
    const kinds = Array.from({ length: 2 * n }, (_, i) => i % 2);
    return { kinds, outputs: kinds.map((k) => draw(rand, k, shift)) };
  };
  const fitted = set(3, 1000, 0);
  const cal = calibrate({ oof: fitted.outputs, goodMode: fitted.kinds, k: 2, head: 'local', topK: 1, far, globalWeight: 0.5 });
  const scoresOf = (s: { kinds: number[]; outputs: HeldOut[] }): number[] => s.outputs.map((h, i) => partsOf(cal, s.kinds[i]!, h, 1).score);

  it('holds the false-alarm rate of each kind', () => {
    // On the held-out good images it was calibrated on: 50 of each kind's 1000 score above 1.
    const scores = scoresOf(fitted);
    for (const kind of [0, 1]) {
      const above = scores.filter((s, i) => fitted.kinds[i] === kind && s > 1).length;
      expect(above, `kind ${kind}`).toBeGreaterThanOrEqual(far * 1000 - 1);
      expect(above, `kind ${kind}`).toBeLessThanOrEqual(far * 1000);
    }
  });

  it('ranks the two kinds on one scale: the pooled AUROC is that of each kind alone', () => {
    const good = set(5, 2000, 0);
    const bad = set(6, 2000, 3);
    const goodScores = scoresOf(good);
    const badScores = scoresOf(bad);
    const within = [0, 1].map((kind) => auroc(goodScores.filter((_, i) => good.kinds[i] === kind), badScores.filter((_, i) => bad.kinds[i] === kind)));
    // Dividing by each kind's percentile alone aligns one point of each kind's good scores, not
    // their spread: the plainest defects of the narrow kind then rank below the highest good
    // images of the wide kind, and the pooled AUROC falls about 0.015 below each kind's.
    expect(auroc(goodScores, badScores)).toBeGreaterThan(Math.min(...within) - 0.004);
  });

  it('keeps a percentile per mode, and finite scores, when a mode’s good scores do not spread', () => {
    // Mode 1: 30 identical good images (its median is its percentile).
    const same: HeldOut = { localHeat: Float32Array.of(2), global: 20 };
    const oof = [...fitted.outputs.filter((_, i) => fitted.kinds[i] === 0).slice(0, 100), ...Array.from({ length: 30 }, () => same)];
    const goodMode = oof.map((_, i) => (i < 100 ? 0 : 1));
    const flat = calibrate({ oof, goodMode, k: 2, head: 'local', topK: 1, far, globalWeight: 0.5 });
    expect(flat.exponent).toBeUndefined();
    expect(partsOf(flat, 1, same, 1).score).toBeCloseTo(1, 6);
    expect(Number.isFinite(partsOf(flat, 0, oof[0]!, 1).score)).toBe(true);
  });

  it('leaves one kind of good image as before: the score is the combined part over its percentile', () => {
    const good = set(7, 500, 0);
    const one = calibrate({ oof: good.outputs, goodMode: good.kinds.map(() => 0), k: 1, head: 'local', topK: 1, far, globalWeight: 0.5 });
    expect(one.exponent).toBeUndefined();
    for (const h of good.outputs.slice(0, 20)) {
      const combined = rawParts(h, 1).local! / one.local![0]! + (0.5 * h.global) / one.global[0]!;
      expect(partsOf(one, 0, h, 1).score).toBeCloseTo(combined / one.combined[0]!, 10);
    }
  });
});
