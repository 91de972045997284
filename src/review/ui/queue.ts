/// <reference lib="dom" />
// The review queue: flagged frames newest first, live, filterable, with verdicts by key.
// The page wires small parts: the list (loads, pages, live updates), the cursor (the
// reviewer's place), the selection, the verdict actions and the keys.
import { h } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { RefObject } from 'preact';
import { api } from './api.js';
import { QueueCard, toggled } from './cards.js';
import { FilterBar, saveFilters, type FilterOptions, type Filters } from './filters.js';
import { useKeys } from './keys.js';
import { PartSearch } from './parts.js';
import { useQueueList } from './queue-list.js';
import type { QueueSession } from './session.js';
import type { Inspection } from './types.js';
import { askLabel, giveVerdict, isTyping, KEYS, reviewText, undoLast, type Decision } from './verdicts.js';
import { navigate } from './nav.js';

/**
 * The reviewer's place: an id, so frames arriving on top do not move it. Keys act on what the
 * reviewer sees: the highlighted card (also when `current` is not in the list and the cursor
 * falls back to the top) in the list as last rendered, read through a ref, so no handler acts
 * on an older render's idea of the cursor.
 */
function useCursor(items: Inspection[], current: string | undefined, setCurrent: (id: string) => void) {
  const found = items.findIndex((i) => i.id === current);
  const index = found >= 0 ? found : 0;
  const shown = useRef({ items, id: items[index]?.id });
  shown.current = { items, id: items[index]?.id };
  // Moves the cursor at once, so a second key pressed before the next render already acts on the new card.
  const goTo = (id: string) => {
    shown.current = { ...shown.current, id };
    setCurrent(id);
  };
  const move = (delta: number) => {
    const { items: list, id } = shown.current;
    const i = Math.max(0, list.findIndex((x) => x.id === id));
    const target = list[Math.max(0, Math.min(list.length - 1, i + delta))];
    if (target) goTo(target.id);
  };
  useEffect(() => {
    document.querySelector('.card.current')?.scrollIntoView({ block: 'nearest' });
  }, [index]);
  return { index, shown, goTo, move };
}

interface QueueKeyActions {
  decide: (d: Decision) => void;
  undo: () => void;
  move: (delta: number) => void;
  toggle: () => void;
  selectAll: () => void;
  clear: () => void;
  open: () => void;
  note: () => void;
}

/** The queue's keys (listed on the page under the toolbar). */
function queueKey(e: KeyboardEvent, act: QueueKeyActions): void {
  if (isTyping(e) || e.altKey || e.metaKey) return;
  if (e.ctrlKey) {
    if (e.key === 'z') {
      e.preventDefault();
      act.undo();
    }
    return;
  }
  const verdict = KEYS.find((k) => k.key === e.key);
  if (verdict) {
    e.preventDefault();
    act.decide(verdict.decision);
  } else if (e.key === 'j' || e.key === 'ArrowDown' || e.key === 'ArrowRight') {
    e.preventDefault();
    act.move(1);
  } else if (e.key === 'k' || e.key === 'ArrowUp' || e.key === 'ArrowLeft') {
    e.preventDefault();
    act.move(-1);
  } else if (e.key === 'x' || e.key === ' ') {
    e.preventDefault();
    act.toggle();
  } else if (e.key === 'a') act.selectAll();
  else if (e.key === 'Escape') act.clear();
  else if (e.key === 'u') act.undo();
  else if (e.key === 'Enter' || e.key === 'o') act.open();
  else if (e.key === 'n') {
    e.preventDefault();
    act.note();
  }
}

function Toolbar(props: {
  items: Inspection[];
  more: boolean;
  fresh: number;
  selected: number;
  status: string;
  decide: (d: Decision) => void;
  undo: () => void;
  noteRef: RefObject<HTMLInputElement | null>;
}) {
  const counts = useMemo(() => {
    const c = { defect: 0, uncertain: 0, ok: 0, unreviewed: 0 };
    for (const i of props.items) {
      c[i.verdict] += 1;
      if (!i.review) c.unreviewed += 1;
    }
    return c;
  }, [props.items]);
  return h(
    'div',
    { class: 'toolbar' },
    h('span', { id: 'queue-counts' }, `${props.items.length}${props.more ? '+' : ''} shown · ${counts.defect} defect · ${counts.uncertain} uncertain · ${counts.unreviewed} unreviewed`),
    props.fresh > 0 ? h('span', { class: 'fresh' }, `${props.fresh} new`) : null,
    props.selected > 0 ? h('span', { class: 'bulk' }, `${props.selected} selected`) : null,
    h(
      'div',
      { class: 'verdict-buttons' },
      KEYS.map((k) => h('button', { key: k.key, class: `verdict-btn ${k.decision}`, onClick: () => props.decide(k.decision), title: `key ${k.key}` }, h('kbd', null, k.key), ' ', k.label)),
      h('button', { class: 'undo', onClick: () => props.undo(), title: 'key u or Ctrl+Z' }, h('kbd', null, 'u'), ' Undo'),
    ),
    h('input', {
      name: 'note',
      ref: props.noteRef,
      class: 'queue-note',
      maxLength: 1000,
      placeholder: 'note with the next verdict (n)',
      // Enter or Esc hands the keys back to the queue.
      onKeyDown: (e: KeyboardEvent) => (e.key === 'Enter' || e.key === 'Escape') && (e.target as HTMLInputElement).blur(),
    }),
    h('span', { class: 'status', role: 'status' }, props.status),
  );
}

export function QueuePage({ session }: { session: QueueSession }) {
  const [filters, setFilters] = useState<Filters>(session.filters);
  const [current, setCurrent] = useState<string | undefined>(session.current);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [options, setOptions] = useState<FilterOptions>();
  const [status, setStatus] = useState('');
  const noteRef = useRef<HTMLInputElement>(null);
  const list = useQueueList(filters, setCurrent);
  const cursor = useCursor(list.items, current, setCurrent);
  const { items, setError } = list;
  session.items = items;
  session.current = current;

  useEffect(() => {
    void api<FilterOptions>('/api/filters').then(setOptions, () => undefined);
  }, []);

  const set = (f: Partial<Filters>) => {
    const merged = { ...filters, ...f };
    saveFilters(merged);
    session.filters = merged;
    setFilters(merged);
  };
  const toggle = (id: string) => setSelected((s) => toggled(s, id));

  const decide = async (decision: Decision) => {
    const { items: shownItems, id } = cursor.shown.current;
    const index = shownItems.findIndex((i) => i.id === id);
    const single = selected.size === 0;
    const ids = !single ? [...selected] : index >= 0 ? [shownItems[index]!.id] : [];
    if (ids.length === 0) return;
    // Next-item flow: the first item after the current one that this verdict does not touch.
    const after =
      shownItems.slice(index + 1).find((i) => !ids.includes(i.id)) ?? shownItems.slice(0, Math.max(0, index)).reverse().find((i) => !ids.includes(i.id));
    let label: string | undefined;
    if (decision === 'relabeled') {
      label = await askLabel(shownItems[index]);
      if (!label) return;
    }
    // Move on now, not when the server answers: its 'review' event can mark the card before the
    // answer arrives, and a reviewer pressing the next key meanwhile would judge this frame twice.
    if (single && after) cursor.goTo(after.id);
    try {
      const note = noteRef.current?.value.trim() || undefined;
      const applied = await giveVerdict(ids, decision, label, note);
      if (note && noteRef.current) noteRef.current.value = '';
      list.apply(applied);
      setSelected(new Set());
      setStatus(`${ids.length} × ${reviewText(applied.get(ids[0]!))} — u to undo`);
    } catch (err) {
      setError((err as Error).message);
      // Not recorded: back to that frame, unless the reviewer has already moved elsewhere.
      if (single && id && after && cursor.shown.current.id === after.id) cursor.goTo(id);
    }
  };

  const undo = async () => {
    const ids = await undoLast().catch((err: Error) => setError(err.message));
    if (ids) {
      setStatus(`undone (${ids.length})`);
      await list.load();
      // Back to the frame that was undone: the reviewer judges it again.
      cursor.goTo(ids[0]!);
    }
  };

  useKeys((e) => {
    const id = cursor.shown.current.id;
    queueKey(e, {
      decide: (d) => void decide(d),
      undo: () => void undo(),
      move: cursor.move,
      toggle: () => id && toggle(id),
      selectAll: () => setSelected(new Set(cursor.shown.current.items.map((i) => i.id))),
      clear: () => setSelected(new Set()),
      open: () => id && navigate(`#/inspection/${id}`),
      note: () => noteRef.current?.focus(),
    });
  });

  return h(
    'section',
    { class: 'queue' },
    h(FilterBar, { filters, set, options }),
    h(PartSearch, null),
    h(Toolbar, { items, more: !!list.next, fresh: list.fresh, selected: selected.size, status, decide: (d) => void decide(d), undo: () => void undo(), noteRef }),
    list.error ? h('p', { class: 'error', role: 'alert' }, list.error) : null,
    h('p', { class: 'keys' }, 'j/k move · d defect · f false positive · r relabel · e needs expert · n note · x select · a select all · Esc clear · Enter open · u undo'),
    items.length === 0 && !list.error ? h('p', { class: 'empty' }, 'Nothing matches these filters.') : null,
    h(
      'div',
      { class: 'grid', id: 'queue' },
      items.map((item, index) =>
        h(QueueCard, { key: item.id, item, isCurrent: index === cursor.index, isSelected: selected.has(item.id), onPick: cursor.goTo, onToggle: toggle }),
      ),
    ),
    list.next ? h('button', { class: 'more', onClick: () => void list.more() }, 'Older…') : null,
  );
}
