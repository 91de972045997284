// Calibration of tiled images (a strip or a large photo is several input tiles): the folds of the
// cross-fit go over images, so a held-out image's tiles are never in the bank that scores it, and
// the combined threshold is set on each image's worst tile, so the false-alarm target holds per
// image, as the line scores an image by its worst tile.
import { describe, expect, it } from 'vitest';
import { calibrate, imageScores, partsOf } from '../../../src/modelling/fit/calibrate.js';
import { crossFit, rawParts, type HeadPlan, type HeldOut, type Sample } from '../../../src/modelling/fit/cross-fit.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';

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
