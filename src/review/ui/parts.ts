/// <reference lib="dom" />
// Part inspections (docs/stations.md): one part as one item with its views (what the PLC was
// told, late and timeout marks, the recipe, each camera's view linking to its inspection), the
// parts found by part id, and the search box that finds them.
import { h } from 'preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import { api, formErrors, query } from './api.js';
import { fmtTime, Thumb } from './cards.js';
import { useKeys } from './keys.js';
import type { Part, PartDetail } from './types.js';
import { isTyping } from './verdicts.js';
import { navigate } from './nav.js';

/** Result codes as the PLC gets them (docs/stations.md#what-happens-on-a-trigger). */
const RESULT_TEXT: Record<number, string> = {
  0: 'every view ok',
  1: 'a view is a defect',
  2: 'the worst view is uncertain',
  10: 'timeout: no verdict by the deadline',
};
const TIMEOUT = 10;

export const partHref = (row: number) => `#/part/${row}`;
export const partsHref = (partId: string) => `#/parts/${encodeURIComponent(partId)}`;

/** What the PLC was told, as a short text: "NG · code 1" or "waiting". */
export function resultText(part: Pick<Part, 'verdict' | 'resultCode'>): string {
  if (part.verdict === null) return 'waiting for the result';
  return `${part.verdict.toUpperCase()} · code ${part.resultCode}`;
}

function Marks({ part }: { part: Part }) {
  return h(
    'span',
    { class: 'marks' },
    part.resultCode === TIMEOUT ? h('span', { class: 'mark timeout', title: RESULT_TEXT[TIMEOUT] }, 'timeout') : null,
    part.late ? h('span', { class: 'mark late', title: 'the views came after the deadline' }, 'late') : null,
  );
}

/** A part-id search: opens the part inspections with that id. */
export function PartSearch({ value = '' }: { value?: string }) {
  const [text, setText] = useState(value);
  return h(
    'form',
    {
      class: 'part-search',
      role: 'search',
      onSubmit: (e: Event) => {
        e.preventDefault();
        const id = text.trim();
        if (id) navigate(partsHref(id));
      },
    },
    h('input', {
      type: 'search',
      name: 'partId',
      value: text,
      maxLength: 128,
      placeholder: 'part id',
      'aria-label': 'find a part by its id',
      onInput: (e: Event) => setText((e.target as HTMLInputElement).value),
      // Esc hands the keys back to the page.
      onKeyDown: (e: KeyboardEvent) => e.key === 'Escape' && (e.target as HTMLInputElement).blur(),
    }),
    h('button', { type: 'submit' }, 'Find part'),
  );
}

/**
 * Loads once per address. The request starts in the first render, not in an effect, so a key
 * pressed right after the page appears already waits for this answer and acts on it.
 */
function useLoaded<T>(url: string): { data: T | undefined; error: string; loaded: Promise<T | undefined> } {
  const [state, setState] = useState<{ data?: T; error: string }>({ error: '' });
  const loaded = useMemo(
    () =>
      api<T>(url).then(
        (data) => {
          setState({ data, error: '' });
          return data;
        },
        (err: unknown) => {
          // The server's sentences for a bad query (a part id it cannot hold), else its message.
          setState({ error: formErrors(err, []).message });
          return undefined;
        },
      ),
    [url],
  );
  return { data: state.data, error: state.error, loaded };
}

const decoded = (arg: string) => {
  try {
    return decodeURIComponent(arg);
  } catch {
    return arg;
  }
};

/** The parts with one part id (a part inspected again has a row per trigger), newest first; all parts without one. `arg`: the id as in the address. */
export function PartsPage({ arg }: { arg: string }) {
  const partId = decoded(arg).trim();
  const { data, error, loaded } = useLoaded<{ parts: Part[] }>(`/api/parts${query({ partId: partId || undefined, limit: 100 })}`);
  const [cursor, setCursor] = useState(0);
  const at = useRef(0);
  at.current = cursor;
  useKeys((e) => {
    if (isTyping(e) || e.altKey || e.metaKey || e.ctrlKey) return;
    if (e.key === 'j' || e.key === 'ArrowDown') setCursor((c) => Math.min((data?.parts.length ?? 1) - 1, c + 1));
    else if (e.key === 'k' || e.key === 'ArrowUp') setCursor((c) => Math.max(0, c - 1));
    else if (e.key === 'Enter' || e.key === 'o') {
      e.preventDefault();
      void loaded.then((d) => {
        const part = d?.parts[at.current];
        if (part) navigate(partHref(part.id));
      });
    }
  });
  const parts = data?.parts;
  return h(
    'section',
    { class: 'parts' },
    h('div', { class: 'toolbar' }, h('h1', null, partId ? `Part ${partId}` : 'Parts'), h(PartSearch, { value: partId, key: partId })),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    !parts && !error ? h('p', { class: 'loading' }, 'Loading…') : null,
    parts && parts.length === 0 ? h('p', { class: 'empty', id: 'parts-empty' }, partId ? `No part inspection with part id ${partId}.` : 'No part inspection yet.') : null,
    parts && parts.length > 0
      ? h(
          'table',
          { class: 'parts-list', id: 'parts' },
          h('thead', null, h('tr', null, ['part id', 'station', 'triggered', 'PLC got', 'views', 'recipe', 'source'].map((t) => h('th', { key: t }, t)))),
          h(
            'tbody',
            null,
            parts.map((p, i) =>
              h(
                'tr',
                { key: p.id, class: `part-row ${p.verdict ?? 'waiting'}${i === cursor ? ' current' : ''}`, 'data-row': p.id, onClick: () => navigate(partHref(p.id)) },
                h('td', null, h('a', { href: partHref(p.id) }, p.partId)),
                h('td', null, p.stationId),
                h('td', null, fmtTime(p.triggeredAt)),
                h('td', null, h('span', { class: `plc ${p.verdict ?? 'waiting'}` }, resultText(p)), h(Marks, { part: p })),
                h('td', null, p.viewsVerdict ? h('span', { class: `verdict ${p.viewsVerdict}` }, p.viewsVerdict) : '–'),
                h('td', null, p.recipe ?? '–'),
                h('td', null, p.source),
              ),
            ),
          ),
        )
      : null,
    h('p', { class: 'keys' }, 'j/k move · Enter open'),
  );
}

/** One part: what the PLC was told and why, and each camera's view. Keys 1–9 open a view's inspection. */
export function PartPage({ row }: { row: string }) {
  const { data, error, loaded } = useLoaded<PartDetail>(`/api/parts/${encodeURIComponent(row)}`);
  useKeys((e) => {
    if (isTyping(e) || e.altKey || e.metaKey || e.ctrlKey) return;
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= 9) {
      void loaded.then((d) => {
        const view = d?.views[n - 1]?.inspection;
        if (view) navigate(`#/inspection/${view.id}`);
      });
    } else if (e.key === 'p') {
      void loaded.then((d) => d && navigate(partsHref(d.part.partId)));
    } else if (e.key === 'Escape' || e.key === 'q') navigate('#/board');
  });
  if (error) return h('p', { class: 'error', role: 'alert' }, error);
  if (!data) return h('p', { class: 'loading' }, 'Loading…');
  const { part, recipe, views } = data;
  const row2 = (k: string, v: unknown) => h('tr', null, h('th', null, k), h('td', null, v as string));
  const ms = (t: number | null) => (t === null ? '–' : `${t - part.triggeredAt} ms after the trigger`);
  return h(
    'section',
    { class: 'part' },
    h(
      'aside',
      { class: 'facts part-facts' },
      h(
        'h2',
        null,
        h('span', { class: `plc ${part.verdict ?? 'waiting'}`, id: 'part-result' }, part.verdict === null ? 'waiting' : part.verdict.toUpperCase()),
        ' ',
        h('span', { id: 'part-id' }, part.partId),
        ' ',
        h(Marks, { part }),
      ),
      h(
        'table',
        null,
        h(
          'tbody',
          null,
          row2('station', part.stationId),
          row2('result code', part.resultCode === null ? '–' : h('span', { id: 'part-code' }, `${part.resultCode}: ${RESULT_TEXT[part.resultCode] ?? 'unknown'}`)),
          row2('views verdict', part.viewsVerdict ? h('span', { class: `verdict ${part.viewsVerdict}`, id: 'part-views-verdict' }, part.viewsVerdict) : part.completedAt ? 'no view came' : 'not all views in yet'),
          part.late ? row2('late', h('span', { id: 'part-late' }, `the PLC got Ng + timeout at the deadline; the views ${part.viewsVerdict ? `said ${part.viewsVerdict}` : 'did not all come'} ${ms(part.completedAt)}`)) : null,
          row2('recipe', part.recipe === null ? 'none' : h('span', { id: 'part-recipe' }, `${part.recipe}${recipe?.name ? ` (${recipe.name})` : ''}`)),
          row2('triggered', `${new Date(part.triggeredAt).toLocaleString()} by ${part.source}`),
          row2('deadline', ms(part.deadlineAt)),
          row2('result written', ms(part.resultAt)),
        ),
      ),
      h('p', null, h('a', { href: partsHref(part.partId) }, 'every inspection of this part id (p)')),
      h('p', { class: 'keys' }, '1–9 open a view · p this part id · Esc board'),
    ),
    h(
      'div',
      { class: 'part-views grid' },
      views.map((v, i) =>
        v.inspection
          ? h(
              'a',
              { key: v.cameraId, class: `card view ${v.inspection.verdict}`, 'data-camera': v.cameraId, href: `#/inspection/${v.inspection.id}`, title: `key ${i + 1}` },
              h(Thumb, { item: v.inspection }),
              h(
                'span',
                { class: 'caption' },
                h('kbd', null, String(i + 1)),
                ' ',
                h('b', null, v.cameraId),
                ' ',
                h('span', { class: `verdict ${v.inspection.verdict}` }, v.inspection.verdict),
                h('span', { class: 'score' }, v.inspection.score.toFixed(3)),
                h('br', null),
                h('span', { class: 'meta' }, `#${v.inspection.frameSeq} captured ${v.inspection.capturedAt - part.triggeredAt} ms after the trigger`),
              ),
            )
          : h('div', { key: v.cameraId, class: 'card view missing', 'data-camera': v.cameraId }, h('div', { class: 'noimg' }, `${v.cameraId}: no view (none came, or no longer stored)`)),
      ),
    ),
  );
}
