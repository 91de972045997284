/// <reference lib="dom" />
// Verdicts from the queue and the detail page: the same keys, one undo stack.
import { api } from './api.js';
import { dialogOpen, pickLabel } from './label-picker.js';
import type { Decision, Inspection, RecordedReview, ReviewState } from './types.js';

export type { Decision };

export const KEYS: { key: string; decision: Decision; label: string }[] = [
  { key: 'd', decision: 'confirmed', label: 'Defect' },
  { key: 'f', decision: 'rejected', label: 'False positive' },
  { key: 'r', decision: 'relabeled', label: 'Relabel…' },
  { key: 'e', decision: 'needs-expert', label: 'Needs expert' },
];

interface Recorded {
  reviews: RecordedReview[];
}

/** Verdicts given in this tab, newest last; `recorded` settles when the server has answered. */
const undoStack: { ids: string[]; recorded: Promise<boolean> }[] = [];

/** The review state the server now holds for each id (undefined: back to unreviewed). */
export type Applied = Map<string, ReviewState | undefined>;

/** Asks for a class label when relabelling, from the model's labels or typed; undefined if the user cancelled. */
export function askLabel(item: Inspection | undefined): Promise<string | undefined> {
  return pickLabel(item?.classes?.[0]?.label);
}

export async function giveVerdict(ids: string[], decision: Decision, label?: string, note?: string): Promise<Applied> {
  // On the stack from the key press on, not from the answer: the live 'review' event can show the
  // verdict before the answer arrives, and an undo pressed then must undo this one, not the one before.
  let settle: (recorded: boolean) => void = () => undefined;
  const entry = { ids, recorded: new Promise<boolean>((resolve) => (settle = resolve)) };
  undoStack.push(entry);
  if (undoStack.length > 50) undoStack.shift();
  try {
    const res = await api<Recorded>('/api/reviews', { method: 'POST', body: { ids, decision, label, ...(note ? { note } : {}) } });
    settle(true);
    return new Map(res.reviews.map((r) => [r.inspectionId, r.current]));
  } catch (err) {
    settle(false);
    const i = undoStack.indexOf(entry);
    if (i >= 0) undoStack.splice(i, 1);
    throw err;
  }
}

/** Undoes the last verdict given in this tab; returns the ids it touched (the caller re-reads them), undefined when there is nothing to undo. */
export async function undoLast(): Promise<string[] | undefined> {
  const entry = undoStack.pop();
  if (!entry) return undefined;
  // The server must see the verdict before its undo; a verdict that failed has nothing to undo.
  if (!(await entry.recorded)) return undefined;
  await api<Recorded>('/api/reviews/undo', { method: 'POST', body: { ids: entry.ids } });
  return entry.ids;
}

export function reviewText(review: ReviewState | undefined): string {
  if (!review) return 'unreviewed';
  if (review.decision === 'confirmed') return 'confirmed';
  if (review.decision === 'rejected') return 'false positive';
  if (review.decision === 'relabeled') return `relabeled: ${review.label ?? ''}`;
  if (review.decision === 'needs-expert') return 'needs expert';
  return review.label ?? review.decision;
}

/** Keys typed into form fields, or while a dialog is open, are not shortcuts. */
export function isTyping(e: KeyboardEvent): boolean {
  if (dialogOpen()) return true;
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
}
