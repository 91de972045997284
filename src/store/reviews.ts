// The review tables (schema/review.ts): `reviews`, every verdict in order (the audit trail, never
// updated; undo is a new 'undone' row), and `review_state`, the verdict in force. This module is
// their only writer and the one place that says what an inspection's current review and label
// are: the review queue, uploads and model building all ask it.
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import Database from 'better-sqlite3';
import { NotFoundError, StoreError, errorMessage } from '../common/errors.js';
import type { Inspection, Verdict } from '../common/types.js';
import { DB_FILE } from './database.js';
import { createInspectionQueries, fromRow, type InspectionFilter, type InspectionQueries, type ReviewedRow } from './rows.js';

export const DECISIONS = ['confirmed', 'rejected', 'relabeled', 'needs-expert'] as const;
export const DecisionSchema = Type.Union(DECISIONS.map((d) => Type.Literal(d)));
export type Decision = (typeof DECISIONS)[number];

/** The verdict in force for an inspection (what the review API shows as `review`). */
export const ReviewStateSchema = Type.Object({
  decision: DecisionSchema,
  label: Type.Union([Type.String(), Type.Null()], { description: "'defect', 'good' or a class name; null for needs-expert." }),
  user: Type.String(),
  at: Type.Number({ description: 'Epoch ms.' }),
  note: Type.Union([Type.String(), Type.Null()]),
});
export type ReviewState = Static<typeof ReviewStateSchema>;

/** One row of `reviews`. */
export interface ReviewEntry {
  id: number;
  decision: Decision | 'undone';
  label: string | null;
  user: string;
  at: number;
  note: string | null;
}

/** What a verdict or an undo stored, as the API answers it and the bus and the live UI announce it. */
export const RecordedReviewSchema = Type.Object({
  inspectionId: Type.String(),
  decision: Type.Union([DecisionSchema, Type.Literal('undone')]),
  label: Type.Optional(
    Type.String({ description: "The inspection's label after this change: 'defect', 'good' or a class name; absent when it has none (needs-expert, or no review left)." }),
  ),
  user: Type.String(),
  at: Type.Number(),
  /** The review in force after this change; absent: back to unreviewed. */
  current: Type.Optional(ReviewStateSchema),
});
export type RecordedReview = Static<typeof RecordedReviewSchema>;

export interface CurrentLabel {
  /** 'good', 'defect', 'uncertain' or a class name. */
  label: string;
  /** A reviewer gave it (needs-expert does not count: the model's doubt stands). */
  reviewed: boolean;
  review?: ReviewState;
}

export interface ReviewedInspection extends Inspection {
  review?: ReviewState;
}

/** An image a reviewer labelled: what model building may learn from. */
export interface ReviewedImage {
  /** Absolute path of the stored JPEG. */
  file: string;
  /** The current label: 'good', 'defect' or a class name. */
  label: string;
}

/** The label a model verdict implies, before any review. */
export function modelLabel(verdict: Verdict): string {
  return verdict === 'ok' ? 'good' : verdict;
}

/** The review in force after `entries` (oldest first): each undo pops the verdict before it. */
export function replayReviews(entries: readonly ReviewEntry[]): ReviewState | undefined {
  const stack: ReviewState[] = [];
  for (const e of entries) {
    if (e.decision === 'undone') stack.pop();
    else stack.push({ decision: e.decision, label: e.label, user: e.user, at: e.at, note: e.note });
  }
  return stack.at(-1);
}

/** The label of an inspection given the review in force: the reviewer's, "uncertain" while an expert is asked, else the model's. */
export function labelOf(verdict: Verdict, review: ReviewState | undefined): CurrentLabel {
  if (review === undefined) return { label: modelLabel(verdict), reviewed: false };
  if (review.label === null) return { label: review.decision === 'needs-expert' ? 'uncertain' : modelLabel(verdict), reviewed: false, review };
  return { label: review.label, reviewed: true, review };
}

function labelFor(decision: Decision, label: string | undefined): string | null {
  if (decision === 'confirmed') return 'defect';
  if (decision === 'rejected') return 'good';
  if (decision === 'relabeled') return label!;
  return null;
}

function stateOf(r: ReviewedRow): ReviewState | undefined {
  if (r.r_decision === null) return undefined;
  return { decision: r.r_decision as Decision, label: r.r_label, user: r.r_user!, at: r.r_at!, note: r.r_note };
}

/** An inspection with the review in force, from a joined row. */
export function reviewedFromRow(r: ReviewedRow): ReviewedInspection {
  const i: ReviewedInspection = fromRow(r);
  const review = stateOf(r);
  if (review !== undefined) i.review = review;
  return i;
}

export interface ReviewInput {
  ids: string[];
  decision: Decision;
  /** Only for 'relabeled'. */
  label?: string;
  note?: string;
  user: string;
}

export interface Reviews {
  /** Stores the verdict for every id in one transaction; throws NotFoundError naming unknown ids (nothing stored then). */
  record(input: ReviewInput): RecordedReview[];
  /** Pops the verdict in force of each id (an 'undone' row); ids without one are skipped. */
  undo(input: { ids: string[]; user: string }): RecordedReview[];
  current(inspectionId: string): ReviewState | undefined;
  currentLabel(inspection: Inspection): CurrentLabel;
  /** Every row of `reviews` for one inspection, oldest first. */
  history(inspectionId: string): ReviewEntry[];
  /** Inspections matching `filter`, with the review in force, newest first unless `order` is 'asc'. */
  find(filter: InspectionFilter, limit: number, order?: 'asc' | 'desc'): ReviewedInspection[];
  get(id: string): ReviewedInspection | undefined;
}

export function createReviews(deps: { db: Database.Database; queries?: InspectionQueries; now?: () => number }): Reviews {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const queries = deps.queries ?? createInspectionQueries(db);
  const exists = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM inspections WHERE id = ?');
  const insert = db.prepare('INSERT INTO reviews (inspection_id, decision, label, user, created_at, note) VALUES (?, ?, ?, ?, ?, ?)');
  const entriesOf = db.prepare<[string], ReviewEntry>('SELECT id, decision, label, user, created_at AS at, note FROM reviews WHERE inspection_id = ? ORDER BY id');
  const stateRow = db.prepare<[string], ReviewState>('SELECT decision, label, user, at, note FROM review_state WHERE inspection_id = ?');
  const upsertState = db.prepare(
    `INSERT INTO review_state (inspection_id, decision, label, user, at, note) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (inspection_id) DO UPDATE SET decision = excluded.decision, label = excluded.label, user = excluded.user, at = excluded.at, note = excluded.note`,
  );
  const deleteState = db.prepare('DELETE FROM review_state WHERE inspection_id = ?');

  /** Appends one row and stores the review it leaves in force (in the caller's transaction). */
  function append(id: string, entry: Omit<ReviewEntry, 'id'>): ReviewState | undefined {
    const current = replayReviews([...entriesOf.all(id), { id: 0, ...entry }]);
    // An undone row carries the label it leaves in force, for readers of the audit trail.
    const label = entry.decision === 'undone' ? (current?.label ?? null) : entry.label;
    insert.run(id, entry.decision, label, entry.user, entry.at, entry.note);
    if (current) upsertState.run(id, current.decision, current.label, current.user, current.at, current.note);
    else deleteState.run(id);
    return current;
  }

  const recordTx = db.transaction((input: ReviewInput) => {
    const missing = input.ids.filter((id) => exists.get(id) === undefined);
    if (missing.length > 0) throw new NotFoundError(`no such inspection: ${missing.slice(0, 5).join(', ')}`);
    const at = now();
    const label = labelFor(input.decision, input.label);
    return input.ids.map((id): RecordedReview => {
      const current = append(id, { decision: input.decision, label, user: input.user, at, note: input.note ?? null });
      return { inspectionId: id, decision: input.decision, label: label ?? undefined, user: input.user, at, current };
    });
  });

  const undoTx = db.transaction((input: { ids: string[]; user: string }) => {
    const at = now();
    const out: RecordedReview[] = [];
    for (const id of input.ids) {
      if (current(id) === undefined) continue;
      const after = append(id, { decision: 'undone', label: null, user: input.user, at, note: null });
      out.push({ inspectionId: id, decision: 'undone', label: after?.label ?? undefined, user: input.user, at, current: after });
    }
    return out;
  });

  function current(inspectionId: string): ReviewState | undefined {
    return stateRow.get(inspectionId);
  }

  return {
    record: (input) => recordTx.immediate(input),
    undo: (input) => undoTx.immediate(input),
    current,
    currentLabel: (inspection) => labelOf(inspection.verdict, current(inspection.id)),
    history: (inspectionId) => entriesOf.all(inspectionId),
    find: (filter, limit, order) => queries.find(filter, limit, order).map(reviewedFromRow),
    get(id) {
      const row = queries.byId(id);
      return row === undefined ? undefined : reviewedFromRow(row);
    },
  };
}

/**
 * The images reviewers labelled in the store under `dataDir`, for model building: each reviewed
 * inspection with a label in force and an image still stored, oldest first. `skipped` counts the
 * reviewed ones left out (needs-expert, undone back to no review, image gone). Opens the
 * database read-only: nothing of the line's data changes.
 */
export function readReviewedImages(dataDir: string): { images: ReviewedImage[]; skipped: number } {
  const file = path.join(dataDir, DB_FILE);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StoreError(`cannot open the store ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const hasReviews = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'review_state'`).get();
    if (!hasReviews) throw new StoreError(`the store ${file} holds no review verdicts (run the line with the review UI first)`);
    const rows = db
      .prepare<[], { imagePath: string; label: string }>(
        `SELECT i.image_path AS imagePath, r.label AS label FROM review_state r JOIN inspections i ON i.id = r.inspection_id
          WHERE r.label IS NOT NULL AND i.image_path IS NOT NULL ORDER BY i.id`,
      )
      .all();
    const reviewed = db.prepare<[], number>('SELECT COUNT(DISTINCT r.inspection_id) FROM reviews r JOIN inspections i ON i.id = r.inspection_id').pluck().get()!;
    return { images: rows.map((r) => ({ file: path.join(dataDir, r.imagePath), label: r.label })), skipped: reviewed - rows.length };
  } finally {
    db.close();
  }
}
