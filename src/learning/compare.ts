// The comparison of a candidate with the live model on the frames reviewers labelled and both
// models scored: AUROC, recall at the live model's operating false-alarm rate, false alarms at
// its operating recall, each with a bootstrap confidence interval, and the frame counts. The
// operating point is where the live model works: its defect threshold as stored with each
// inspection. Both models are measured at that false-alarm rate (and that recall) from their
// own scores, so the figures do not depend on a candidate's threshold calibration.
import { auroc, recallAtFpr, seededRandom } from '../modelling/fit/stats.js';

/** One reviewed frame both models scored. */
export interface ScoredPair {
  /** The reviewer's label: true = defect. */
  defect: boolean;
  live: number;
  candidate: number;
  /** The live model's defect threshold in force for this frame. */
  liveThreshold: number;
}

export interface Interval {
  value: number;
  /** 95% bootstrap interval (percentile); equal to value without resamples. */
  low: number;
  high: number;
}

export interface ModelFigures {
  auroc: Interval;
  /** Share of defects caught at the operating false-alarm rate. */
  recallAtOperatingFalseAlarms: Interval;
  /** Share of good frames flagged at the operating recall. */
  falseAlarmsAtOperatingRecall: Interval;
}

export interface Comparison {
  frames: number;
  good: number;
  defect: number;
  /** The live model's false-alarm rate and recall at its thresholds, on these frames. */
  operating: { falseAlarmRate: number; recall: number };
  live: ModelFigures;
  candidate: ModelFigures;
  /** Candidate minus live, with intervals from the same resamples (paired). */
  difference: ModelFigures;
  resamples: number;
}

/** Share of negatives at or above the highest threshold that still catches `recall` of the positives. */
export function falseAlarmsAtRecall(negatives: readonly number[], positives: readonly number[], recall: number): number {
  if (negatives.length === 0 || positives.length === 0) return Number.NaN;
  const pos = [...positives].sort((a, b) => b - a);
  const needed = Math.max(1, Math.ceil(recall * pos.length - 1e-9));
  const t = pos[Math.min(pos.length, needed) - 1]!;
  return negatives.filter((s) => s >= t).length / negatives.length;
}

function figures(neg: number[], pos: number[], operating: { falseAlarmRate: number; recall: number }): [number, number, number] {
  return [auroc(neg, pos), recallAtFpr(neg, pos, operating.falseAlarmRate), falseAlarmsAtRecall(neg, pos, operating.recall)];
}

function split(pairs: readonly ScoredPair[], key: 'live' | 'candidate'): { neg: number[]; pos: number[] } {
  const neg: number[] = [];
  const pos: number[] = [];
  for (const p of pairs) (p.defect ? pos : neg).push(p[key]);
  return { neg, pos };
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
}

/**
 * Compares the two models on `pairs`. The intervals come from `resamples` stratified bootstrap
 * resamples (good and defect frames drawn separately, so each resample keeps both classes),
 * seeded: the same frames give the same intervals.
 */
export function compareModels(pairs: readonly ScoredPair[], options: { resamples?: number; seed?: number } = {}): Comparison {
  const resamples = options.resamples ?? 500;
  const good = pairs.filter((p) => !p.defect);
  const bad = pairs.filter((p) => p.defect);
  const operating = {
    falseAlarmRate: good.length === 0 ? Number.NaN : good.filter((p) => p.live >= p.liveThreshold).length / good.length,
    recall: bad.length === 0 ? Number.NaN : bad.filter((p) => p.live >= p.liveThreshold).length / bad.length,
  };
  const measure = (sample: readonly ScoredPair[]) => {
    const l = split(sample, 'live');
    const c = split(sample, 'candidate');
    const live = figures(l.neg, l.pos, operating);
    const cand = figures(c.neg, c.pos, operating);
    return { live, cand, diff: cand.map((v, i) => v - live[i]!) };
  };
  const point = measure(pairs);
  const draws = { live: [[], [], []] as number[][], cand: [[], [], []] as number[][], diff: [[], [], []] as number[][] };
  if (good.length > 0 && bad.length > 0) {
    const rand = seededRandom(options.seed ?? 19);
    const pick = (from: readonly ScoredPair[]) => from[Math.floor(rand() * from.length)]!;
    for (let b = 0; b < resamples; b++) {
      const sample = [...good.map(() => pick(good)), ...bad.map(() => pick(bad))];
      const m = measure(sample);
      for (const k of ['live', 'cand', 'diff'] as const) m[k].forEach((v, i) => Number.isFinite(v) && draws[k][i]!.push(v));
    }
  }
  const interval = (value: number, draws: number[]): Interval => {
    if (draws.length === 0) return { value, low: value, high: value };
    const sorted = [...draws].sort((a, b) => a - b);
    return { value, low: percentile(sorted, 0.025), high: percentile(sorted, 0.975) };
  };
  const asFigures = (values: number[], d: number[][]): ModelFigures => ({
    auroc: interval(values[0]!, d[0]!),
    recallAtOperatingFalseAlarms: interval(values[1]!, d[1]!),
    falseAlarmsAtOperatingRecall: interval(values[2]!, d[2]!),
  });
  return {
    frames: pairs.length,
    good: good.length,
    defect: bad.length,
    operating,
    live: asFigures(point.live, draws.live),
    candidate: asFigures(point.cand, draws.cand),
    difference: asFigures(point.diff, draws.diff),
    resamples: good.length > 0 && bad.length > 0 ? resamples : 0,
  };
}

export interface PromotionRule {
  minFrames: number;
  minPerClass: number;
  /** AUROC by which the candidate must beat the live model. */
  margin: number;
}

export interface PromotionVerdict {
  allowed: boolean;
  /** Why (or why not), for people. */
  reason: string;
}

/** Whether the comparison has the frames the rule needs to judge at all. */
export function hasEnoughFrames(c: Pick<Comparison, 'frames' | 'good' | 'defect'>, rule: Pick<PromotionRule, 'minFrames' | 'minPerClass'>): boolean {
  return c.frames >= rule.minFrames && c.good >= rule.minPerClass && c.defect >= rule.minPerClass;
}

/** Whether the comparison allows the candidate to take over. */
export function promotionVerdict(c: Comparison, rule: PromotionRule): PromotionVerdict {
  if (c.frames < rule.minFrames) return { allowed: false, reason: `${c.frames} reviewed frames scored by both models; at least ${rule.minFrames} are needed` };
  if (c.good < rule.minPerClass || c.defect < rule.minPerClass) {
    return { allowed: false, reason: `${c.good} good and ${c.defect} defect frames among them; at least ${rule.minPerClass} of each are needed` };
  }
  const gain = c.difference.auroc.value;
  const text = `AUROC ${c.candidate.auroc.value.toFixed(3)} against ${c.live.auroc.value.toFixed(3)} (${gain >= 0 ? '+' : ''}${gain.toFixed(3)}, margin ${rule.margin}) on ${c.frames} frames`;
  if (!(gain >= rule.margin)) return { allowed: false, reason: `not better by the margin: ${text}` };
  return { allowed: true, reason: `better by the margin: ${text}` };
}
