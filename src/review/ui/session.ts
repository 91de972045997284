/// <reference lib="dom" />
// The queue as the reviewer last saw it: its filters, items and place. The App holds one and
// hands it to the queue page (which keeps it current) and the detail page (whose "next" and
// "previous" follow the queue, and whose verdicts the queue shows on return).
import { api } from './api.js';
import { loadFilters, queueUrl, type Filters } from './filters.js';
import type { Inspection, ReviewState } from './types.js';

export interface QueueSession {
  filters: Filters;
  items: Inspection[];
  /** The reviewer's place (an inspection id). */
  current?: string;
}

export function createQueueSession(): QueueSession {
  return { filters: loadFilters(), items: [] };
}

/** The item of the queue after `id`, fetching older ones when the loaded list ends. */
export async function nextAfter(session: QueueSession, id: string): Promise<string | undefined> {
  const i = session.items.findIndex((x) => x.id === id);
  if (i >= 0 && i + 1 < session.items.length) return session.items[i + 1]!.id;
  const res = await api<{ items: Inspection[] }>(queueUrl(session.filters, id, 1)).catch(() => undefined);
  return res?.items[0]?.id;
}

export function previousOf(session: QueueSession, id: string): string | undefined {
  const i = session.items.findIndex((x) => x.id === id);
  return i > 0 ? session.items[i - 1]!.id : undefined;
}

/** A verdict given elsewhere (the detail page): the queue shows it when the reviewer returns. */
export function markReviewed(session: QueueSession, id: string, review: ReviewState | undefined): void {
  session.items = session.items.map((x) => (x.id === id ? { ...x, review } : x));
}
