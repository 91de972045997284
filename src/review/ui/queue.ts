/// <reference lib="dom" />
// The review queue: flagged frames newest first, live, filterable, with verdicts by key.
import { h } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, onServerEvent, query } from './api.js';
import type { Inspection, RecordedReview, Thresholds, Verdict } from './types.js';
import { askLabel, giveVerdict, isTyping, KEYS, reviewText, undoLast, type Applied, type Decision } from './verdicts.js';

export interface Filters {
  camera: string;
  verdict: 'flagged' | 'defect' | 'uncertain' | 'ok' | 'all';
  review: string;
  model: string;
  from: string;
  to: string;
  minScore: number | '';
  maxScore: number | '';
}

const DEFAULT_FILTERS: Filters = { camera: '', verdict: 'flagged', review: 'any', model: '', from: '', to: '', minScore: '', maxScore: '' };

/** Shared with the detail page, so "next" there follows this list. */
export const queueState: { items: Inspection[]; filters: Filters; current?: string } = { items: [], filters: loadFilters() };

function loadFilters(): Filters {
  try {
    return { ...DEFAULT_FILTERS, ...(JSON.parse(sessionStorage.getItem('visor.filters') ?? '{}') as Partial<Filters>) };
  } catch {
    return { ...DEFAULT_FILTERS };
  }
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
      model: f.model,
      from: f.from ? new Date(f.from).getTime() : undefined,
      to: f.to ? new Date(f.to).getTime() : undefined,
      minScore: f.minScore,
      maxScore: f.maxScore,
    })
  );
}

function matches(f: Filters, i: { cameraId: string; verdict: Verdict; score: number }): boolean {
  if (f.camera && i.cameraId !== f.camera) return false;
  if (f.verdict === 'flagged' ? i.verdict === 'ok' : f.verdict !== 'all' && i.verdict !== f.verdict) return false;
  if (f.minScore !== '' && i.score < f.minScore) return false;
  if (f.maxScore !== '' && i.score > f.maxScore) return false;
  return !f.to;
}

export function Thumb({ item }: { item: Inspection }) {
  const src = item.overlayUrl ?? item.imageUrl;
  return src ? h('img', { src, alt: `${item.verdict} frame`, loading: 'lazy', draggable: false }) : h('div', { class: 'noimg' }, 'no image stored');
}

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + (Date.now() - ms > 86_400_000 ? ` ${d.toLocaleDateString()}` : '');
}

interface FilterOptions {
  cameras: string[];
  models: string[];
  thresholds: Record<string, Thresholds | undefined>;
}

function ScoreRange({ filters, set, options }: { filters: Filters; set: (f: Partial<Filters>) => void; options: FilterOptions | undefined }) {
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

export function QueuePage() {
  const [filters, setFilters] = useState<Filters>(queueState.filters);
  const [items, setItems] = useState<Inspection[]>([]);
  const [next, setNext] = useState<string | undefined>();
  // The reviewer's place is an id, so frames arriving on top do not move it.
  const [current, setCurrent] = useState<string | undefined>(queueState.current);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [options, setOptions] = useState<FilterOptions>();
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [fresh, setFresh] = useState(0);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  queueState.items = items;
  queueState.current = current;
  const found = items.findIndex((i) => i.id === current);
  const cursor = found >= 0 ? found : 0;
  // Keys act on what the reviewer sees: the highlighted card (also when `current` is not in the
  // list and the cursor falls back to the top) in the list as last rendered. Read through a ref,
  // so no handler acts on an older render's idea of the cursor.
  const shown = useRef({ items, id: items[cursor]?.id });
  shown.current = { items, id: items[cursor]?.id };
  // Moves the cursor at once, so a second key pressed before the next render already acts on the new card.
  const goTo = (id: string) => {
    shown.current = { ...shown.current, id };
    setCurrent(id);
  };
  const move = (delta: number) => {
    const { items: list, id } = shown.current;
    const i = Math.max(0, list.findIndex((x) => x.id === id));
    const next = list[Math.max(0, Math.min(list.length - 1, i + delta))];
    if (next) goTo(next.id);
  };

  const set = (f: Partial<Filters>) => {
    const merged = { ...filters, ...f };
    sessionStorage.setItem('visor.filters', JSON.stringify(merged));
    queueState.filters = merged;
    setFilters(merged);
  };

  // Answers can arrive out of order: one asked for other filters, or overtaken by a newer load, must
  // not change the list shown (it would show frames these filters exclude).
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const loads = useRef(0);
  const stale = (load: number, f: Filters) => load !== loads.current || f !== filtersRef.current;

  const load = useCallback(async () => {
    const mine = ++loads.current;
    try {
      const res = await api<{ items: Inspection[]; next?: string }>(queueUrl(filters));
      if (stale(mine, filters)) return;
      setItems(res.items);
      setNext(res.next);
      setCurrent((c) => (c && res.items.some((i) => i.id === c) ? c : res.items[0]?.id));
      setError('');
    } catch (err) {
      if (!stale(mine, filters)) setError((err as Error).message);
    }
  }, [filters]);

  useEffect(() => {
    void api<FilterOptions>('/api/filters').then(setOptions, () => undefined);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  // New inspections: fetch the head of the list and put what is new on top, without moving the reviewer's place.
  useEffect(() => {
    let timer: number | undefined;
    let active = true;
    const pull = async () => {
      timer = undefined;
      const res = await api<{ items: Inspection[] }>(queueUrl(filters, undefined, 50)).catch(() => undefined);
      if (!res || !active || filters !== filtersRef.current) return;
      const top = itemsRef.current[0]?.id ?? '';
      const count = res.items.filter((i) => i.id > top).length;
      if (count === 0) return;
      // Functional update: a verdict applied meanwhile must not be overwritten by this list.
      setItems((list) => [...res.items.filter((i) => i.id > (list[0]?.id ?? '')), ...list]);
      setCurrent((c) => c ?? res.items[0]?.id);
      setFresh((n) => n + count);
    };
    const offInspection = onServerEvent<{ cameraId: string; verdict: Verdict; score: number }>('inspection', (i) => {
      if (matches(filters, i) && timer === undefined) timer = window.setTimeout(() => void pull(), 100);
    });
    const offOpen = onServerEvent('open', () => void pull());
    // Every verdict and undo, from any tab, carries the review it leaves in force.
    const offReview = onServerEvent<RecordedReview>('review', (r) => {
      setItems((list) => list.map((i) => (i.id === r.inspectionId ? { ...i, review: r.current } : i)));
    });
    return () => {
      active = false;
      offInspection();
      offOpen();
      offReview();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [filters]);

  const apply = (applied: Applied) => {
    setItems((list) => {
      const updated = list.map((i) => (applied.has(i.id) ? { ...i, review: applied.get(i.id) } : i));
      // With "unreviewed" shown, reviewed frames leave the list; the cursor then points at the next one.
      return filters.review === 'unreviewed' ? updated.filter((i) => !applied.get(i.id)) : updated;
    });
  };

  const decide = async (decision: Decision) => {
    const { items: list, id } = shown.current;
    const index = list.findIndex((i) => i.id === id);
    const single = selected.size === 0;
    const ids = !single ? [...selected] : index >= 0 ? [list[index]!.id] : [];
    if (ids.length === 0) return;
    // Next-item flow: the first item after the current one that this verdict does not touch.
    const after = list.slice(index + 1).find((i) => !ids.includes(i.id)) ?? list.slice(0, Math.max(0, index)).reverse().find((i) => !ids.includes(i.id));
    let label: string | undefined;
    if (decision === 'relabeled') {
      label = askLabel(list[index]);
      if (!label) return;
    }
    // Move on now, not when the server answers: its 'review' event can mark the card before the
    // answer arrives, and a reviewer pressing the next key meanwhile would judge this frame twice.
    if (single && after) goTo(after.id);
    try {
      const applied = await giveVerdict(ids, decision, label);
      apply(applied);
      setSelected(new Set());
      setStatus(`${ids.length} × ${reviewText(applied.get(ids[0]!))} — u to undo`);
    } catch (err) {
      setError((err as Error).message);
      // Not recorded: back to that frame, unless the reviewer has already moved elsewhere.
      if (single && id && after && shown.current.id === after.id) goTo(id);
    }
  };

  const undo = async () => {
    const ids = await undoLast().catch((err: Error) => setError(err.message));
    if (ids) {
      setStatus(`undone (${ids.length})`);
      await load();
    }
  };

  const more = async () => {
    if (!next) return;
    const mine = loads.current;
    const res = await api<{ items: Inspection[]; next?: string }>(queueUrl(filters, next));
    if (stale(mine, filters)) return;
    setItems((list) => [...list, ...res.items]);
    setNext(res.next);
  };

  // The latest render's handler; the listener below is registered once and always calls this one,
  // so a key pressed before effects run does not reach an older render's closure.
  const onKey = useRef<(e: KeyboardEvent) => void>(() => undefined);
  onKey.current = (e: KeyboardEvent) => {
    if (isTyping(e) || e.altKey || e.metaKey) return;
    const list = shown.current.items;
    if (e.ctrlKey) {
      if (e.key === 'z') {
        e.preventDefault();
        void undo();
      }
      return;
    }
    const verdict = KEYS.find((k) => k.key === e.key);
    if (verdict) {
      e.preventDefault();
      void decide(verdict.decision);
    } else if (e.key === 'j' || e.key === 'ArrowDown' || e.key === 'ArrowRight') {
      e.preventDefault();
      move(1);
    } else if (e.key === 'k' || e.key === 'ArrowUp' || e.key === 'ArrowLeft') {
      e.preventDefault();
      move(-1);
    } else if (e.key === 'x' || e.key === ' ') {
      e.preventDefault();
      const id = shown.current.id;
      if (id) setSelected((s) => (s.has(id) ? new Set([...s].filter((x) => x !== id)) : new Set([...s, id])));
    } else if (e.key === 'a') {
      setSelected(new Set(list.map((i) => i.id)));
    } else if (e.key === 'Escape') {
      setSelected(new Set());
    } else if (e.key === 'u') {
      void undo();
    } else if (e.key === 'Enter' || e.key === 'o') {
      const id = shown.current.id;
      if (id) location.hash = `#/inspection/${id}`;
    }
  };
  useEffect(() => {
    const listener = (e: KeyboardEvent) => onKey.current(e);
    addEventListener('keydown', listener);
    return () => removeEventListener('keydown', listener);
  }, []);

  useEffect(() => {
    document.querySelector('.card.current')?.scrollIntoView({ block: 'nearest' });
  }, [cursor]);

  const select = (name: keyof Filters, values: [string, string][]) =>
    h(
      'select',
      { name, value: filters[name] as string, onChange: (e: Event) => set({ [name]: (e.target as HTMLSelectElement).value } as Partial<Filters>) },
      values.map(([v, label]) => h('option', { value: v }, label)),
    );
  const counts = useMemo(() => {
    const c = { defect: 0, uncertain: 0, ok: 0, unreviewed: 0 };
    for (const i of items) {
      c[i.verdict] += 1;
      if (!i.review) c.unreviewed += 1;
    }
    return c;
  }, [items]);

  return h(
    'section',
    { class: 'queue' },
    h(
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
      select('model', [['', 'all models'], ...(options?.models ?? []).map((m): [string, string] => [m, `model ${m}`])]),
      h('label', null, 'from ', h('input', { type: 'datetime-local', name: 'from', value: filters.from, onChange: (e: Event) => set({ from: (e.target as HTMLInputElement).value }) })),
      h('label', null, 'to ', h('input', { type: 'datetime-local', name: 'to', value: filters.to, onChange: (e: Event) => set({ to: (e.target as HTMLInputElement).value }) })),
      h(ScoreRange, { filters, set, options }),
      h('button', { class: 'link', onClick: () => set({ ...DEFAULT_FILTERS }) }, 'reset'),
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('span', { id: 'queue-counts' }, `${items.length}${next ? '+' : ''} shown · ${counts.defect} defect · ${counts.uncertain} uncertain · ${counts.unreviewed} unreviewed`),
      fresh > 0 ? h('span', { class: 'fresh' }, `${fresh} new`) : null,
      selected.size > 0 ? h('span', { class: 'bulk' }, `${selected.size} selected`) : null,
      KEYS.map((k) => h('button', { key: k.key, class: `verdict-btn ${k.decision}`, onClick: () => void decide(k.decision), title: `key ${k.key}` }, h('kbd', null, k.key), ' ', k.label)),
      h('button', { onClick: () => void undo(), title: 'key u or Ctrl+Z' }, h('kbd', null, 'u'), ' Undo'),
      h('span', { class: 'status', role: 'status' }, status),
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('p', { class: 'keys' }, 'j/k move · d defect · f false positive · r relabel · e needs expert · x select · a select all · Esc clear · Enter open · u undo'),
    items.length === 0 && !error ? h('p', { class: 'empty' }, 'Nothing matches these filters.') : null,
    h(
      'div',
      { class: 'grid', id: 'queue' },
      items.map((item, index) =>
        h(
          'figure',
          {
            key: item.id,
            class: `card inspection ${item.verdict}${index === cursor ? ' current' : ''}${selected.has(item.id) ? ' selected' : ''}${item.review ? ' reviewed' : ''}`,
            'data-id': item.id,
            onClick: (e: MouseEvent) => {
              if (e.shiftKey || e.ctrlKey) setSelected((s) => (s.has(item.id) ? new Set([...s].filter((x) => x !== item.id)) : new Set([...s, item.id])));
              else goTo(item.id);
            },
            onDblClick: () => (location.hash = `#/inspection/${item.id}`),
          },
          h('input', {
            type: 'checkbox',
            class: 'pick',
            checked: selected.has(item.id),
            'aria-label': 'select',
            onClick: (e: MouseEvent) => e.stopPropagation(),
            onChange: () => setSelected((s) => (s.has(item.id) ? new Set([...s].filter((x) => x !== item.id)) : new Set([...s, item.id]))),
          }),
          h(Thumb, { item }),
          h(
            'figcaption',
            null,
            h('span', { class: `verdict ${item.verdict}` }, item.verdict),
            h('span', { class: 'score' }, item.score.toFixed(3)),
            h('br', null),
            h('span', { class: 'meta' }, `${item.cameraId} #${item.frameSeq} · ${fmtTime(item.capturedAt)}`),
            h('br', null),
            h('span', { class: `review ${item.review ? item.review.decision : 'none'}` }, reviewText(item.review)),
          ),
        ),
      ),
    ),
    next ? h('button', { class: 'more', onClick: () => void more() }, 'Older…') : null,
  );
}
