// The comparison's figures on frames whose answer is known, and the promotion rule.
import { describe, expect, it } from 'vitest';
import { compareModels, falseAlarmsAtRecall, promotionVerdict, type ScoredPair } from '../../src/learning/compare.js';
import { seededRandom } from '../../src/modelling/fit/stats.js';

/** n good and n defect frames; the live model ranks them by chance, the candidate perfectly. */
function frames(n: number, seed = 1): ScoredPair[] {
  const rand = seededRandom(seed);
  return Array.from({ length: 2 * n }, (_, i) => {
    const defect = i % 2 === 1;
    return { defect, live: rand(), candidate: (defect ? 1 : 0) + rand() * 0.5, liveThreshold: 0.5 };
  });
}

const rule = { minFrames: 40, minPerClass: 10, margin: 0.05 };

describe('comparison', () => {
  it('measures AUROC, recall at the operating false-alarm rate and false alarms at the operating recall', () => {
    const c = compareModels(frames(50), { resamples: 200 });
    expect([c.frames, c.good, c.defect]).toEqual([100, 50, 50]);
    expect(c.candidate.auroc.value).toBe(1);
    expect(c.live.auroc.value).toBeGreaterThan(0.3);
    expect(c.live.auroc.value).toBeLessThan(0.7);
    // The live model flags about half of each class at 0.5: the candidate catches every defect at that false-alarm rate, with no false alarm at that recall.
    expect(c.operating.falseAlarmRate).toBeGreaterThan(0.3);
    expect(c.candidate.recallAtOperatingFalseAlarms.value).toBe(1);
    expect(c.candidate.falseAlarmsAtOperatingRecall.value).toBe(0);
    // Paired intervals: the gain is clear of zero, each interval holds its value.
    expect(c.difference.auroc.low).toBeGreaterThan(0.2);
    for (const f of [c.live.auroc, c.candidate.auroc, c.difference.auroc, c.live.recallAtOperatingFalseAlarms]) {
      expect(f.low).toBeLessThanOrEqual(f.value + 1e-9);
      expect(f.high).toBeGreaterThanOrEqual(f.value - 1e-9);
    }
    expect(c.resamples).toBe(200);
  });

  it('gives the same intervals for the same frames, and wider ones for fewer frames', () => {
    expect(compareModels(frames(50), { resamples: 100 })).toEqual(compareModels(frames(50), { resamples: 100 }));
    const few = compareModels(frames(8), { resamples: 300 });
    const many = compareModels(frames(200), { resamples: 300 });
    expect(few.live.auroc.high - few.live.auroc.low).toBeGreaterThan(many.live.auroc.high - many.live.auroc.low);
  });

  it('counts false alarms at the highest threshold that still reaches the recall', () => {
    // Positives 0.9, 0.8, 0.7, 0.2: half the recall needs 0.8; all of it needs 0.2.
    expect(falseAlarmsAtRecall([0.1, 0.3, 0.75, 0.85], [0.9, 0.8, 0.7, 0.2], 0.5)).toBe(0.25);
    expect(falseAlarmsAtRecall([0.1, 0.3, 0.75, 0.85], [0.9, 0.8, 0.7, 0.2], 1)).toBe(0.75);
  });

  it('has no intervals when a class is missing', () => {
    const c = compareModels(frames(10).filter((p) => !p.defect));
    expect(c.resamples).toBe(0);
    expect(Number.isNaN(c.live.auroc.value)).toBe(true);
  });
});

describe('promotion rule', () => {
  it('refuses with too few frames, even with a clear margin', () => {
    const v = promotionVerdict(compareModels(frames(15)), rule);
    expect(v.allowed).toBe(false);
    expect(v.reason).toMatch(/30 reviewed frames .* at least 40/);
  });

  it('refuses with too few frames of one class', () => {
    const pairs = frames(40).filter((p, i) => !p.defect || i < 16);
    const v = promotionVerdict(compareModels(pairs), rule);
    expect(v.allowed).toBe(false);
    expect(v.reason).toMatch(/8 defect frames .* at least 10 of each/);
  });

  it('promotes with a clear margin', () => {
    const v = promotionVerdict(compareModels(frames(30)), rule);
    expect(v.allowed).toBe(true);
    expect(v.reason).toMatch(/^better by the margin: AUROC 1\.000 against 0\.\d+/);
  });

  it('refuses a candidate that is no better by the margin', () => {
    const same = frames(30).map((p) => ({ ...p, candidate: p.live + 0.01 }));
    const v = promotionVerdict(compareModels(same), rule);
    expect(v.allowed).toBe(false);
    expect(v.reason).toMatch(/^not better by the margin/);
  });
});
