/// <reference lib="dom" />
// Verdicts from the queue and the detail page: the same keys, one undo stack.
import { api } from './api.js';
import type { Inspection, ReviewState } from './types.js';

export type Decision = 'confirmed' | 'rejected' | 'relabeled' | 'needs-expert';

export const KEYS: { key: string; decision: Decision; label: string }[] = [
  { key: 'd', decision: 'confirmed', label: 'Defect' },
  { key: 'f', decision: 'rejected', label: 'False positive' },
  { key: 'r', decision: 'relabeled', label: 'Relabel…' },
  { key: 'e', decision: 'needs-expert', label: 'Needs expert' },
];

interface Recorded {
  reviews: { inspectionId: string; decision: string; label?: string; user: string; at: number }[];
}

const undoStack: string[][] = [];

/** The review state the server now holds for each id (undefined: back to unreviewed). */
export type Applied = Map<string, ReviewState | undefined>;

function toState(r: Recorded['reviews'][number]): ReviewState | undefined {
  return r.decision === 'undone' ? undefined : { decision: r.decision, label: r.label ?? null, user: r.user, at: r.at };
}

/** Asks for a class label when relabelling; undefined if the user cancelled. */
export function askLabel(item: Inspection | undefined): string | undefined {
  const suggestion = item?.classes?.[0]?.label ?? '';
  const label = prompt('New class label (letters, digits, space . _ -):', suggestion);
  return label?.trim() || undefined;
}

export async function giveVerdict(ids: string[], decision: Decision, label?: string): Promise<Applied> {
  const res = await api<Recorded>('/api/reviews', { method: 'POST', body: { ids, decision, label } });
  undoStack.push(ids);
  if (undoStack.length > 50) undoStack.shift();
  return new Map(res.reviews.map((r) => [r.inspectionId, toState(r)]));
}

/** Undoes the last verdict given in this tab; returns the ids it touched (the caller re-reads them), undefined when there is nothing to undo. */
export async function undoLast(): Promise<string[] | undefined> {
  const ids = undoStack.pop();
  if (!ids) return undefined;
  await api<Recorded>('/api/reviews/undo', { method: 'POST', body: { ids } });
  return ids;
}

export function reviewText(review: ReviewState | undefined): string {
  if (!review) return 'unreviewed';
  if (review.decision === 'confirmed') return 'confirmed';
  if (review.decision === 'rejected') return 'false positive';
  if (review.decision === 'relabeled') return `relabeled: ${review.label ?? ''}`;
  if (review.decision === 'needs-expert') return 'needs expert';
  return review.label ?? review.decision;
}

/** Keys typed into form fields are not shortcuts. */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
}
