/// <reference lib="dom" />
// The queue's filters: what they are, how they are kept (per tab), the API query they make,
// whether a live inspection passes them, and the bar that edits them.
import { h } from 'preact';
import { query } from './api.js';
import type { Thresholds, Verdict } from './types.js';

export interface Filters {
  camera: string;
  verdict: 'flagged' | 'defect' | 'uncertain' | 'ok' | 'all';
  review: string;
  /** Frames the shadow candidate disagrees on ('' = any; docs/learning.md). */
  shadow: string;
  model: string;
  from: string;
  to: string;
  minScore: number | '';
  maxScore: number | '';
}

export const DEFAULT_FILTERS: Filters = { camera: '', verdict: 'flagged', review: 'any', shadow: '', model: '', from: '', to: '', minScore: '', maxScore: '' };

const STORAGE_KEY = 'visor.filters';

export function loadFilters(): Filters {
  try {
    return { ...DEFAULT_FILTERS, ...(JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '{}') as Partial<Filters>) };
  } catch {
    return { ...DEFAULT_FILTERS };
  }
}

export function saveFilters(f: Filters): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(f));
}

export function queueUrl(f: Filters, before?: string, limit = 50): string {
  return (
    '/api/inspections' +
    query({
      limit,
      before,
      verdict: f.verdict,
      camera: f.camera,
      review: f.review,
      shadow: f.shadow,
      model: f.model,
      from: f.from ? new Date(f.from).getTime() : undefined,
      to: f.to ? new Date(f.to).getTime() : undefined,
      minScore: f.minScore,
      maxScore: f.maxScore,
    })
  );
}

/** Whether a newly stored inspection (the live event's summary) may belong on top of the list these filters show. */
export function matches(f: Filters, i: { cameraId: string; verdict: Verdict; score: number }): boolean {
  // The candidate scores a frame after it is announced: whether they disagree is not known yet.
  if (f.shadow) return false;
  if (f.camera && i.cameraId !== f.camera) return false;
  if (f.verdict === 'flagged' ? i.verdict === 'ok' : f.verdict !== 'all' && i.verdict !== f.verdict) return false;
  if (f.minScore !== '' && i.score < f.minScore) return false;
  if (f.maxScore !== '' && i.score > f.maxScore) return false;
  return !f.to;
}

export interface FilterOptions {
  cameras: string[];
  models: string[];
  thresholds: Record<string, Thresholds | undefined>;
}

interface BarProps {
  filters: Filters;
  set: (f: Partial<Filters>) => void;
  options: FilterOptions | undefined;
}

function ScoreRange({ filters, set, options }: BarProps) {
  const ts = Object.values(options?.thresholds ?? {}).filter((t): t is Thresholds => !!t);
  const threshold = filters.camera ? options?.thresholds[filters.camera] : ts[0];
  const max = Math.max(1, ...ts.map((t) => t.defect * 2));
  const step = max / 200;
  const lo = filters.minScore === '' ? 0 : filters.minScore;
  const hi = filters.maxScore === '' ? max : filters.maxScore;
  const uncertainFrom = threshold ? threshold.defect - threshold.uncertainBand : undefined;
  const pct = (v: number) => `${Math.max(0, Math.min(100, (v / max) * 100))}%`;
  return h(
    'div',
    { class: 'score-range' },
    h('span', null, `score ${lo.toFixed(2)} – ${filters.maxScore === '' ? 'max' : hi.toFixed(2)}`),
    h(
      'div',
      { class: 'sliders' },
      threshold ? h('i', { class: 'tick defect', style: { left: pct(threshold.defect) }, title: `defect threshold ${threshold.defect}` }) : null,
      uncertainFrom !== undefined ? h('i', { class: 'tick uncertain', style: { left: pct(uncertainFrom) }, title: `uncertain from ${uncertainFrom.toFixed(3)}` }) : null,
      h('input', {
        type: 'range',
        name: 'minScore',
        min: 0,
        max,
        step,
        value: lo,
        'aria-label': 'minimum score',
        onChange: (e: Event) => set({ minScore: Number((e.target as HTMLInputElement).value) || '' }),
      }),
      h('input', {
        type: 'range',
        name: 'maxScore',
        min: 0,
        max,
        step,
        value: hi,
        'aria-label': 'maximum score',
        onChange: (e: Event) => {
          const v = Number((e.target as HTMLInputElement).value);
          set({ maxScore: v >= max ? '' : v });
        },
      }),
    ),
    filters.verdict === 'flagged' && uncertainFrom !== undefined && lo < uncertainFrom
      ? h('button', { class: 'link', onClick: () => set({ verdict: 'all' }) }, 'include ok frames (misses)')
      : null,
  );
}

export function FilterBar({ filters, set, options }: BarProps) {
  const select = (name: keyof Filters, values: [string, string][]) =>
    h(
      'select',
      { name, value: filters[name] as string, onChange: (e: Event) => set({ [name]: (e.target as HTMLSelectElement).value } as Partial<Filters>) },
      values.map(([v, label]) => h('option', { value: v }, label)),
    );
  const time = (name: 'from' | 'to') =>
    h('label', null, `${name} `, h('input', { type: 'datetime-local', name, value: filters[name], onChange: (e: Event) => set({ [name]: (e.target as HTMLInputElement).value }) }));
  return h(
    'div',
    { class: 'filters' },
    select('camera', [['', 'all cameras'], ...(options?.cameras ?? []).map((c): [string, string] => [c, c])]),
    select('verdict', [
      ['flagged', 'defect + uncertain'],
      ['defect', 'defect'],
      ['uncertain', 'uncertain'],
      ['ok', 'ok'],
      ['all', 'all verdicts'],
    ]),
    select('review', [
      ['any', 'any review state'],
      ['unreviewed', 'unreviewed'],
      ['reviewed', 'reviewed'],
      ['confirmed', 'confirmed'],
      ['rejected', 'false positive'],
      ['relabeled', 'relabeled'],
      ['needs-expert', 'needs expert'],
    ]),
    h(
      'select',
      {
        name: 'shadow',
        value: filters.shadow,
        // The frames the live model passed are ok verdicts: a disagreement filter shows every verdict.
        onChange: (e: Event) => {
          const shadow = (e.target as HTMLSelectElement).value;
          set(shadow ? { shadow, verdict: 'all' } : { shadow });
        },
      },
      [
        ['', 'any shadow score'],
        ['disagree', 'candidate disagrees'],
        ['live-ok', 'live ok, candidate defect'],
        ['live-defect', 'live defect, candidate ok'],
      ].map(([v, label]) => h('option', { value: v }, label)),
    ),
    select('model', [['', 'all models'], ...(options?.models ?? []).map((m): [string, string] => [m, `model ${m}`])]),
    time('from'),
    time('to'),
    h(ScoreRange, { filters, set, options }),
    h('button', { class: 'link', onClick: () => set({ ...DEFAULT_FILTERS }) }, 'reset'),
  );
}
