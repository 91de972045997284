// The search's choice of neighbourhood normalisation (neighbours.ts, select.ts), on held-out
// outputs made to order: good images of two kinds whose normal scores differ threefold, and
// defects that stand out only against good images of their own kind.
import { describe, expect, it } from 'vitest';
import type { CrossFit, HeldOut, Sample } from '../../../src/modelling/fit/cross-fit.js';
import { ONE_MODE } from '../../../src/modelling/fit/modes.js';
import { descriptorOf, fitDescriptors, neighboursOf } from '../../../src/modelling/fit/neighbours.js';
import { best, headCandidates, rankHeads } from '../../../src/modelling/fit/select.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';

const C = 4;
const P = 9;
const rand = seededRandom(3);

/** A sample whose texture tells its kind: kind 0 varies in channels 0–1, kind 1 in channels 2–3. */
const sample = (kind: number, file: string): Sample => {
  const features = Float32Array.from({ length: C * P }, (_, i) => (Math.floor(i / P) >> 1 === kind ? 2 : 0.2) * (rand() - 0.5));
  return { file, features, projected: features };
};
const heldOut = (score: number): HeldOut => ({ localHeat: Float32Array.of(score), bankHeat: Float32Array.of(score), bankWeight: 1, global: 1 + 0.1 * rand() });

function choose(kinds: number) {
  const goods = Array.from({ length: 120 }, (_, i) => sample(i % kinds, `good${i}`));
  // Good scores: about 1 for kind 0, about 3 for kind 1. Defects: 1.6 on kind 0, 4.8 on kind 1 (60% above their kind).
  const level = (kind: number): number => (kind === 0 ? 1 : 3);
  const cv: CrossFit = { folds: [], goods: goods.map((_, i) => heldOut(level(i % kinds) * (0.8 + 0.4 * rand()))), extras: [] };
  const defectSamples = Array.from({ length: 40 }, (_, j) => sample(j % kinds, `defect${j}`));
  const defects = defectSamples.map((_, j) => heldOut(level(j % kinds) * 1.6));
  const descriptors = fitDescriptors(goods.map((g) => g.features), C);
  const lists = {
    goods: goods.map((g, i) => neighboursOf(descriptors, descriptorOf(descriptors, g.features), (r) => r === i)),
    defects: defectSamples.map((s) => neighboursOf(descriptors, descriptorOf(descriptors, s.features))),
  };
  const candidates = headCandidates({ head: 'local', topK: 1 }, { head: 'local', topK: 1, normalise: 'none' });
  const ranked = rankHeads(cv, defects, defectSamples, { modes: ONE_MODE(C), goodMode: goods.map(() => 0) }, lists, candidates, 0.05, 0.5);
  return { ranked, chosen: best(ranked) };
}

describe('choosing neighbourhood normalisation on validation defects', () => {
  it('normalises when good images come in kinds with different normal scores', () => {
    const { ranked, chosen } = choose(2);
    expect(ranked.map((r) => r.normalise)).toEqual(['none', 'patch', 'all']);
    // Unnormalised, a kind-0 defect (1.6) scores below many good kind-1 images (about 3).
    expect(ranked[0]!.auroc).toBeLessThan(0.8);
    expect(ranked[1]!.auroc).toBeGreaterThan(0.95);
    expect(chosen.normalise).not.toBe('none');
  });

  it('keeps the default (none) for one kind, where it cannot help', () => {
    const { ranked, chosen } = choose(1);
    expect(ranked[0]!.auroc).toBeGreaterThan(0.95);
    expect(chosen.normalise).toBe('none');
  });
});
