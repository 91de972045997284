/// <reference lib="dom" />
// The queue's list: the first page for the filters, older pages on demand, new inspections on
// top as they are stored, and verdicts from this tab and every other one.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, onServerEvent } from './api.js';
import { matches, queueUrl, type Filters } from './filters.js';
import type { Inspection, RecordedReview, Verdict } from './types.js';
import type { Applied } from './verdicts.js';

export type SetCurrent = (update: (current: string | undefined) => string | undefined) => void;

/** The list these filters show: the first page, older pages on demand, new inspections on top, verdicts from any tab. */
export function useQueueList(filters: Filters, setCurrent: SetCurrent) {
  const [items, setItems] = useState<Inspection[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState('');
  const [fresh, setFresh] = useState(0);
  const itemsRef = useRef(items);
  itemsRef.current = items;

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

  const more = async () => {
    if (!next) return;
    const mine = loads.current;
    const res = await api<{ items: Inspection[]; next?: string }>(queueUrl(filters, next));
    if (stale(mine, filters)) return;
    setItems((list) => [...list, ...res.items]);
    setNext(res.next);
  };

  /** Verdicts this tab gave. With "unreviewed" shown, reviewed frames leave the list; the cursor then points at the next one. */
  const apply = (applied: Applied) => {
    setItems((list) => {
      const updated = list.map((i) => (applied.has(i.id) ? { ...i, review: applied.get(i.id) } : i));
      return filters.review === 'unreviewed' ? updated.filter((i) => !applied.get(i.id)) : updated;
    });
  };

  return { items, next, error, setError, fresh, load, more, apply };
}
