// Ranking the search's candidates on the faint synthetic defects (select.ts, synthetic.ts): plain
// defects are found by every candidate, so they cannot tell candidates apart; faint ones can.
import { describe, expect, it } from 'vitest';
import type { CrossFit, HeldOut } from '../../../src/modelling/fit/cross-fit.js';
import { ONE_MODE } from '../../../src/modelling/fit/modes.js';
import { best, FAINT_MARGIN, headCandidates, rankHeads } from '../../../src/modelling/fit/select.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';
import { isFaint, strengthOf, SYNTHETIC_KINDS } from '../../../src/modelling/fit/synthetic.js';

const C = 4;
const rand = seededRandom(5);
/** Held-out outputs: the local head's and the global bank's score of one position. */
const heldOut = (local: number, bank: number): HeldOut => ({ localHeat: Float32Array.of(local), bankHeat: Float32Array.of(bank), bankWeight: 1, global: 1 + 0.05 * rand() });

describe('ranking candidates on faint synthetic defects', () => {
  // 160 defects made in turn: their strengths (strengthOf) as the fit makes them.
  const strengths = Array.from({ length: 160 }, (_, j) => strengthOf(j));
  const goods = Array.from({ length: 100 }, () => 0.8 + 0.4 * rand());
  const cv: CrossFit = { folds: [], goods: goods.map((g) => heldOut(g, g)), extras: [] };
  // Both heads find a defect that is plain (5× a good score); only the bank sees a faint one
  // (the local head scores it as a good image, the bank at 1 + strength).
  const defects = strengths.map((s) => (isFaint(s) ? heldOut(0.8 + 0.4 * rand(), 1 + s + 0.3 * rand()) : heldOut(5, 5)));
  const samples = defects.map((_, j) => ({ file: `synthetic-${j}`, features: new Float32Array(C), projected: new Float32Array(C) }));
  const candidates = headCandidates({ topK: 1, normalise: 'none' }, { head: 'local', topK: 1, normalise: 'none' });
  const rank = (keep: (s: number) => boolean) => {
    const of = strengths.flatMap((s, j) => (keep(s) ? [j] : []));
    return rankHeads(cv, of.map((j) => defects[j]!), of.map((j) => samples[j]!), { modes: ONE_MODE(C), goodMode: goods.map(() => 0) }, { goods: [], defects: [] }, candidates, 0.05, 0.5);
  };

  it('the faint defects are a third or more of the small kinds, and never a large-area one', () => {
    const faint = strengths.flatMap((s, j) => (isFaint(s) ? [SYNTHETIC_KINDS[j % SYNTHETIC_KINDS.length]!] : []));
    expect(faint.length).toBeGreaterThan(160 / 3);
    expect(faint).not.toContain('area');
    expect(faint).not.toContain('area-texture');
    for (const kind of ['cut-paste', 'scratch', 'blob', 'noise']) expect(faint.filter((k) => k === kind).length, kind).toBeGreaterThan(10);
  });

  it('plain defects tie every candidate and keep the default; the faint ones choose what separates them', () => {
    const plain = rank((s) => !isFaint(s));
    expect(plain.map((r) => r.auroc)).toEqual([1, 1, 1]);
    expect(best(plain, FAINT_MARGIN).head).toBe('local');
    const faint = rank(isFaint);
    expect(faint.map((r) => r.head)).toEqual(['local', 'global', 'both']);
    expect(faint[0]!.auroc).toBeLessThan(0.65);
    expect(faint[1]!.auroc).toBeGreaterThan(faint[0]!.auroc + FAINT_MARGIN);
    expect(best(faint, FAINT_MARGIN).head).toBe('global');
  });

  it('keeps the default unless a candidate is FAINT_MARGIN ahead', () => {
    const tried = [{ auroc: 0.75 }, { auroc: 0.75 + FAINT_MARGIN * 0.6 }];
    expect(best(tried, FAINT_MARGIN)).toBe(tried[0]);
    expect(best([...tried, { auroc: 0.75 + FAINT_MARGIN }], FAINT_MARGIN)).toEqual({ auroc: 0.75 + FAINT_MARGIN });
  });
});
