// The durable upload queue and the decision log, in the store's SQLite database (tables in
// src/store/schema/upload.ts). At-least-once: a job is deleted only after its blobs are
// written, and blob names are deterministic, so a repeat overwrites instead of duplicating.
import type { Database } from 'better-sqlite3';

export type JobKind = 'sample' | 'label';

export interface Job {
  id: number;
  inspectionId: string;
  kind: JobKind;
  enqueuedAt: number;
  generation: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
}

export interface DecisionRow {
  inspectionId: string;
  cameraId: string;
  decidedAt: number;
  selected: boolean;
  reason: string;
  override: string | null;
  uploadedAt: number | null;
  blobName: string | null;
}

export interface UploadQueue {
  recordDecision(d: { inspectionId: string; cameraId: string; decidedAt: number; selected: boolean; reason: string; override?: string }): void;
  /** Marks a decision as selected by a later reason (requested, review); inserts it if the inspection had none. */
  override(d: { inspectionId: string; cameraId: string; at: number; override: string }): void;
  decision(inspectionId: string): DecisionRow | undefined;
  /** Policy selections of a camera since `since` (what the hourly cap counts). */
  selectedSince(cameraId: string, since: number): number;
  /** Adds a job, or (if one of that kind is queued) makes it run again soon, even if it is in flight now. Returns false when the queue is full. */
  enqueue(inspectionId: string, kind: JobKind, now: number, maxLength: number): boolean;
  pending(inspectionId: string, kind: JobKind): Job | undefined;
  /** Due jobs in enqueue order, skipping ids in flight. */
  due(now: number, limit: number, skip: ReadonlySet<number>): Job[];
  /** Deletes the job unless it was re-enqueued while in flight (then it stays, to run again). */
  complete(job: Job): void;
  retryLater(job: Job, error: string, nextAttemptAt: number): void;
  drop(job: Job): void;
  /** After an outage: make every waiting job due now, so the backlog drains at once. */
  wakeAll(now: number): number;
  markUploaded(inspectionId: string, blobName: string, at: number): void;
  depth(): { total: number; samples: number; labels: number; oldestEnqueuedAt: number | null };
  nextAttemptAt(): number | null;
  transaction<T>(fn: () => T): T;
}

interface JobRow {
  id: number;
  inspection_id: string;
  kind: JobKind;
  enqueued_at: number;
  generation: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
}

function toJob(r: JobRow): Job {
  return {
    id: r.id,
    inspectionId: r.inspection_id,
    kind: r.kind,
    enqueuedAt: r.enqueued_at,
    generation: r.generation,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
  };
}

export function createUploadQueue(db: Database): UploadQueue {
  const insertDecision = db.prepare(
    `INSERT INTO upload_decisions (inspection_id, camera_id, decided_at, selected, reason, override)
     VALUES (@inspectionId, @cameraId, @decidedAt, @selected, @reason, @override)`,
  );
  const overrideDecision = db.prepare(
    `INSERT INTO upload_decisions (inspection_id, camera_id, decided_at, selected, reason, override)
     VALUES (@inspectionId, @cameraId, @at, 1, 'none', @override)
     ON CONFLICT (inspection_id) DO UPDATE SET override = COALESCE(override, excluded.override), selected = 1
     WHERE selected = 0`,
  );
  const selectDecision = db.prepare<[string], { inspection_id: string; camera_id: string; decided_at: number; selected: number; reason: string; override: string | null; uploaded_at: number | null; blob_name: string | null }>(
    'SELECT * FROM upload_decisions WHERE inspection_id = ?',
  );
  const countSelected = db.prepare<[string, number], { n: number }>(
    'SELECT COUNT(*) AS n FROM upload_decisions WHERE camera_id = ? AND decided_at >= ? AND selected = 1 AND override IS NULL',
  );
  const countJobs = db.prepare<[], { total: number; samples: number; labels: number; oldest: number | null }>(
    `SELECT COUNT(*) AS total, COALESCE(SUM(kind = 'sample'), 0) AS samples, COALESCE(SUM(kind = 'label'), 0) AS labels, MIN(enqueued_at) AS oldest FROM upload_queue`,
  );
  const findJob = db.prepare<[string, JobKind], JobRow>('SELECT * FROM upload_queue WHERE inspection_id = ? AND kind = ?');
  const insertJob = db.prepare(
    `INSERT INTO upload_queue (inspection_id, kind, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (inspection_id, kind) DO UPDATE SET generation = generation + 1, next_attempt_at = MIN(next_attempt_at, excluded.next_attempt_at)`,
  );
  const bumpJob = db.prepare('UPDATE upload_queue SET generation = generation + 1, next_attempt_at = MIN(next_attempt_at, ?) WHERE id = ?');
  const dueJobs = db.prepare<[number, number], JobRow>('SELECT * FROM upload_queue WHERE next_attempt_at <= ? ORDER BY id LIMIT ?');
  const deleteJob = db.prepare('DELETE FROM upload_queue WHERE id = ? AND generation = ?');
  const deleteAny = db.prepare('DELETE FROM upload_queue WHERE id = ?');
  const failJob = db.prepare('UPDATE upload_queue SET attempts = attempts + 1, last_error = ?, next_attempt_at = MAX(next_attempt_at, ?) WHERE id = ?');
  const wake = db.prepare('UPDATE upload_queue SET next_attempt_at = ? WHERE next_attempt_at > ?');
  const uploaded = db.prepare('UPDATE upload_decisions SET uploaded_at = ?, blob_name = ? WHERE inspection_id = ?');
  const nextAt = db.prepare<[], { at: number | null }>('SELECT MIN(next_attempt_at) AS at FROM upload_queue');

  return {
    recordDecision(d) {
      insertDecision.run({ ...d, selected: d.selected ? 1 : 0, override: d.override ?? null });
    },
    override(d) {
      overrideDecision.run(d);
    },
    decision(inspectionId) {
      const r = selectDecision.get(inspectionId);
      if (!r) return undefined;
      return {
        inspectionId: r.inspection_id,
        cameraId: r.camera_id,
        decidedAt: r.decided_at,
        selected: r.selected === 1,
        reason: r.reason,
        override: r.override,
        uploadedAt: r.uploaded_at,
        blobName: r.blob_name,
      };
    },
    selectedSince(cameraId, since) {
      return countSelected.get(cameraId, since)!.n;
    },
    enqueue(inspectionId, kind, now, maxLength) {
      const existing = findJob.get(inspectionId, kind);
      if (existing) {
        bumpJob.run(now, existing.id);
        return true;
      }
      if (countJobs.get()!.total >= maxLength) return false;
      insertJob.run(inspectionId, kind, now, now);
      return true;
    },
    pending(inspectionId, kind) {
      const r = findJob.get(inspectionId, kind);
      return r ? toJob(r) : undefined;
    },
    due(now, limit, skip) {
      // Over-fetch by the number in flight, then skip them: the in-flight ones are due too.
      return dueJobs.all(now, limit + skip.size).filter((r) => !skip.has(r.id)).slice(0, limit).map(toJob);
    },
    complete(job) {
      deleteJob.run(job.id, job.generation);
    },
    retryLater(job, error, nextAttemptAt) {
      failJob.run(error.slice(0, 500), nextAttemptAt, job.id);
    },
    drop(job) {
      deleteAny.run(job.id);
    },
    wakeAll(now) {
      return wake.run(now, now).changes;
    },
    markUploaded(inspectionId, blobName, at) {
      uploaded.run(at, blobName, inspectionId);
    },
    depth() {
      const r = countJobs.get()!;
      return { total: r.total, samples: r.samples, labels: r.labels, oldestEnqueuedAt: r.oldest };
    },
    nextAttemptAt() {
      return nextAt.get()!.at;
    },
    transaction(fn) {
      return db.transaction(fn)();
    },
  };
}
