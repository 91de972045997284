/// <reference lib="dom" />
// The Learning page: the live model and the candidate beside it (fit progress, shadow share
// configured and achieved, disagreements), the comparison on the reviewed frames both scored
// with its confidence intervals, and the actions engineers and admins have: train a candidate,
// promote it when the rule allows, roll back.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { fmtTime } from './cards.js';
import { DEFAULT_FILTERS, saveFilters } from './filters.js';
import type { QueueSession } from './session.js';
import type { Role, User } from './types.js';
import { navigate } from './nav.js';

interface Interval {
  value: number;
  low: number;
  high: number;
}
interface Figures {
  auroc: Interval;
  recallAtOperatingFalseAlarms: Interval;
  falseAlarmsAtOperatingRecall: Interval;
}
interface Comparison {
  frames: number;
  good: number;
  defect: number;
  operating: { falseAlarmRate: number; recall: number };
  live: Figures;
  candidate: Figures;
  difference: Figures;
  resamples: number;
  candidateVersion: string;
  liveVersion: string;
  promotion: { allowed: boolean; reason: string };
}
interface Status {
  live: { name: string; version: string };
  rollbackTo?: { version: string };
  candidate?: { version: string; status: string; source: string; createdAt: number; error?: string; fleet?: { prefix: string } };
  shadow?: { candidate: string; share: number; achievedShare: number; seen: number; scored: number; skippedBusy: number; failed: number; meanInferenceMs: number; disagreements: number; liveOk: number; liveDefect: number; scoredTotal: number };
  training?: { version: string; source: string; startedAt: number; progress?: { label: string; done: number; total: number } };
  lastTrainingError?: string;
  rule: { minFrames: number; minPerClass: number; margin: number; auto: boolean };
  promotion?: { allowed: boolean; reason: string };
  verdictsToNextFit?: number;
  nextRuleFitAfter?: number;
  changes: Array<{ id: number; at: number; action: string; user: string; fromVersion: string; toVersion: string }>;
}

const RANK: Record<Role, number> = { operator: 0, engineer: 1, admin: 2 };
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');
const num = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const signed = (v: number, f: (v: number) => string) => (Number.isFinite(v) && v > 0 ? `+${f(v)}` : f(v));

function cell(i: Interval, f: (v: number) => string, diff = false) {
  const text = diff ? signed(i.value, f) : f(i.value);
  return h('td', null, text, h('span', { class: 'ci' }, ` [${diff ? signed(i.low, f) : f(i.low)}, ${diff ? signed(i.high, f) : f(i.high)}]`));
}

function ComparisonTable({ c }: { c: Comparison }) {
  const row = (label: string, key: keyof Figures, f: (v: number) => string) =>
    h('tr', { 'data-figure': key }, h('th', null, label), cell(c.live[key], f), cell(c.candidate[key], f), cell(c.difference[key], f, true));
  return h(
    'div',
    { class: 'comparison' },
    h('p', null, `${c.frames} reviewed frames scored by both models (${c.good} good, ${c.defect} defect); 95% bootstrap intervals from ${c.resamples} resamples. The live model's operating point on them: ${pct(c.operating.falseAlarmRate)} false alarms, ${pct(c.operating.recall)} recall.`),
    h(
      'table',
      null,
      h('thead', null, h('tr', null, h('th', null, ''), h('th', null, `live ${c.liveVersion}`), h('th', null, `candidate ${c.candidateVersion}`), h('th', null, 'difference'))),
      h('tbody', null, row('AUROC', 'auroc', num), row('recall at the operating false-alarm rate', 'recallAtOperatingFalseAlarms', pct), row('false alarms at the operating recall', 'falseAlarmsAtOperatingRecall', pct)),
    ),
  );
}

export function LearningPage({ user, session }: { user: User; session: QueueSession }) {
  const [status, setStatus] = useState<Status | undefined>(undefined);
  const [comparison, setComparison] = useState<Comparison | undefined>(undefined);
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const engineer = RANK[user.role] >= RANK.engineer;
  const load = () => {
    void api<Status>('/api/learning').then(
      (s) => {
        setStatus(s);
        if (s.shadow) void api<Comparison>('/api/learning/comparison').then(setComparison, () => setComparison(undefined));
        else setComparison(undefined);
      },
      (e: Error) => setMessage(e.message),
    );
  };
  useEffect(() => {
    load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, []);
  const act = (path: string, done: (r: any) => string) => {
    setBusy(true);
    void api(path, { method: 'POST' })
      .then(
        (r) => setMessage(done(r)),
        (e: Error) => setMessage(e.message),
      )
      .finally(() => {
        setBusy(false);
        load();
      });
  };
  if (!status) return h('p', { class: message ? 'error' : 'loading' }, message || 'Loading…');
  const s = status.shadow;
  const t = status.training;
  const reviewDisagreements = () => {
    const filters = { ...DEFAULT_FILTERS, verdict: 'all' as const, shadow: 'disagree' };
    saveFilters(filters);
    session.filters = filters;
    session.items = [];
    session.current = undefined;
    navigate('#/queue');
  };
  return h(
    'section',
    { class: 'learning' },
    message ? h('p', { class: 'status', role: 'status', id: 'learning-message' }, message) : null,
    h('h2', null, 'Live model'),
    h('p', { id: 'live-model' }, `${status.live.name} ${status.live.version}`),
    status.rollbackTo && engineer ? h('button', { id: 'rollback', disabled: busy, onClick: () => act('/api/learning/rollback', (c) => `rolled back to ${c.toVersion}`) }, `Roll back to ${status.rollbackTo.version}`) : null,
    h('h2', null, 'Candidate'),
    t
      ? h(
          'div',
          { id: 'training' },
          h('p', null, `Fitting ${t.version} (${t.source}), started ${fmtTime(t.startedAt)}`),
          t.progress ? h('p', null, h('progress', { max: t.progress.total, value: t.progress.done }), ` ${t.progress.label} ${t.progress.done}/${t.progress.total}`) : h('p', null, 'starting…'),
        )
      : null,
    status.lastTrainingError ? h('p', { class: 'error' }, `Last fit failed: ${status.lastTrainingError}`) : null,
    status.candidate ? h('p', { id: 'candidate' }, `${status.candidate.version} · ${status.candidate.status} · from ${status.candidate.source}`) : h('p', { class: 'empty', id: 'candidate' }, 'No candidate runs in shadow.'),
    s
      ? h(
          'p',
          { id: 'shadow' },
          `Shadow: scores ${pct(s.achievedShare)} of frames (configured ${pct(s.share)}; ${s.scored} of ${s.seen} since start, ${s.skippedBusy} skipped while busy, ${s.meanInferenceMs.toFixed(0)} ms each). Disagreements: ${s.disagreements} (live ok / candidate defect ${s.liveOk}, live defect / candidate ok ${s.liveDefect}). `,
          h('button', { class: 'link', id: 'review-disagreements', onClick: reviewDisagreements }, 'review them'),
        )
      : null,
    status.verdictsToNextFit !== undefined ? h('p', { class: 'hint' }, nextFitText(status.verdictsToNextFit, status.nextRuleFitAfter)) : null,
    engineer ? h('button', { id: 'train', disabled: busy || t !== undefined, onClick: () => act('/api/learning/train', (r) => `fitting ${r.version}`) }, 'Train candidate') : null,
    h('h2', null, 'Comparison'),
    comparison ? h(ComparisonTable, { c: comparison }) : h('p', { class: 'empty' }, 'No comparison yet: it needs a candidate in shadow and reviewed frames.'),
    status.promotion ? h('p', { id: 'promotion', class: status.promotion.allowed ? 'ok' : 'hint' }, `${status.rule.auto ? 'Automatic promotion' : 'Promotion'}: ${status.promotion.reason}.`) : null,
    engineer && status.candidate && s ? h('button', { id: 'promote', disabled: busy || !status.promotion?.allowed, onClick: () => act('/api/learning/promote', (c) => `promoted ${c.toVersion}`) }, `Promote ${status.candidate.version}`) : null,
    h('h2', null, 'History'),
    status.changes.length === 0
      ? h('p', { class: 'empty' }, 'No promotion or rollback yet.')
      : h('table', { id: 'changes' }, h('tbody', null, status.changes.map((c) => h('tr', { key: c.id }, h('td', null, fmtTime(c.at)), h('td', null, c.action), h('td', null, `${c.fromVersion} → ${c.toVersion}`), h('td', null, c.user))))),
  );
}

/** When the every-N-verdicts rule fits next: after N more verdicts, and not before its interval is up. */
function nextFitText(verdicts: number, notBefore: number | undefined): string {
  const later = notBefore !== undefined && notBefore > Date.now() ? new Date(notBefore).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : undefined;
  if (verdicts > 0) return `The next candidate is fitted after ${verdicts} more verdicts${later ? `, not before ${later}` : ''}.`;
  return later ? `The next candidate is fitted at ${later} (at most one fit per interval).` : 'The next candidate is fitted now.';
}
