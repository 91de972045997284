// Queries of the review UI over the store: the queue (keyset-paged), verdicts with undo,
// neighbours, stats and threshold previews. Plain SQL on the store's connection.
import type Database from 'better-sqlite3';
import { decide } from '../inference/decision.js';
import type { Inspection, Thresholds, Verdict } from '../common/types.js';
import type { Store } from '../store/index.js';
import { AuthError } from './users.js';

export const DECISIONS = ['confirmed', 'rejected', 'relabeled', 'needs-expert'] as const;
export type Decision = (typeof DECISIONS)[number];
export const VERDICT_FILTERS = ['flagged', 'defect', 'uncertain', 'ok', 'all'] as const;
export const REVIEW_FILTERS = ['any', 'unreviewed', 'reviewed', 'confirmed', 'rejected', 'relabeled', 'needs-expert'] as const;
export const MAX_BULK = 500;

export interface ReviewState {
  decision: Decision;
  label: string | null;
  user: string;
  at: number;
}

export interface QueueItem extends Inspection {
  review?: ReviewState;
}

export interface QueueQuery {
  limit: number;
  before?: string;
  camera?: string;
  from?: number;
  to?: number;
  verdict?: (typeof VERDICT_FILTERS)[number];
  review?: (typeof REVIEW_FILTERS)[number];
  model?: string;
  minScore?: number;
  maxScore?: number;
}

export interface RecordedReview {
  inspectionId: string;
  decision: Decision | 'undone';
  label: string | undefined;
  user: string;
  at: number;
}

/** The smallest id a time-ordered id (src/ids.ts) created at `ms` can have. */
export function idAtTime(ms: number): string {
  const hex = Math.max(0, Math.min(2 ** 48 - 1, Math.floor(ms))).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

export interface ReviewQueue {
  list(query: QueueQuery): { items: QueueItem[]; next?: string };
  get(id: string): QueueItem | undefined;
  neighbours(id: string, count: number): { before: QueueItem[]; after: QueueItem[] };
  /** Stores the verdict for every id in one transaction; throws 404 naming unknown ids (nothing stored then). */
  record(input: { ids: string[]; decision: Decision; label?: string; note?: string; user: string }): RecordedReview[];
  /** Pops the latest verdict of each id (an 'undone' row); ids without a verdict are skipped. */
  undo(input: { ids: string[]; user: string }): RecordedReview[];
  history(id: string): { id: number; decision: string; label: string | null; user: string; at: number; note: string | null }[];
  models(): string[];
  stats(input: { from: number; to: number; camera?: string; buckets: number }): Stats;
  preview(input: { camera: string; model: string; thresholds: Thresholds; limit: number }): ThresholdPreview;
}

export interface Stats {
  bucketMs: number;
  series: { cameraId: string; t: number[]; total: number[]; defect: number[]; uncertain: number[] }[];
  totals: Record<Verdict, number>;
  latencyMs: { inference: { p50: number; p99: number }; total: { p50: number; p99: number }; samples: number };
  histogram: { edges: number[]; counts: number[]; samples: number };
  agreement: { verdict: Verdict; decision: string; n: number }[];
  reviewers: { user: string; n: number }[];
}

export interface ThresholdPreview {
  considered: number;
  changed: number;
  transitions: Record<string, number>;
}

type Row = Record<string, unknown> & { id: string };

function fromRow(r: Row): QueueItem {
  const i: QueueItem = {
    id: r.id,
    cameraId: r.camera_id as string,
    frameSeq: r.frame_seq as number,
    capturedAt: r.captured_at as number,
    inferredAt: r.inferred_at as number,
    decidedAt: r.decided_at as number,
    verdict: r.verdict as Verdict,
    score: r.score as number,
    model: { name: r.model_name as string, version: r.model_version as string, task: r.model_task as Inspection['model']['task'] },
    thresholds: JSON.parse(r.thresholds as string) as Thresholds,
    timings: JSON.parse(r.timings as string) as Inspection['timings'],
  };
  if (r.classes !== null) i.classes = JSON.parse(r.classes as string) as Inspection['classes'];
  if (r.boxes !== null) i.boxes = JSON.parse(r.boxes as string) as Inspection['boxes'];
  if (r.image_path !== null) i.imagePath = r.image_path as string;
  if (r.overlay_path !== null) i.overlayPath = r.overlay_path as string;
  if (r.source_file !== null) i.sourceFile = r.source_file as string;
  if (r.r_decision !== null && r.r_decision !== undefined)
    i.review = { decision: r.r_decision as Decision, label: r.r_label as string | null, user: r.r_user as string, at: r.r_at as number };
  return i;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const SELECT = `SELECT i.*, r.decision AS r_decision, r.label AS r_label, r.user AS r_user, r.at AS r_at
  FROM inspections i LEFT JOIN review_state r ON r.inspection_id = i.id`;

export function createReviewQueue(deps: { store: Store; now?: () => number }): ReviewQueue {
  const db: Database.Database = deps.store.db;
  const now = deps.now ?? Date.now;
  const statements = new Map<string, Database.Statement<unknown[], Row>>();
  const prepared = (sql: string) => {
    let s = statements.get(sql);
    if (!s) statements.set(sql, (s = db.prepare<unknown[], Row>(sql)));
    return s;
  };
  const byId = db.prepare<[string], Row>(`${SELECT} WHERE i.id = ?`);
  const exists = db.prepare<[string], { id: string }>('SELECT id FROM inspections WHERE id = ?');
  const insertReview = db.prepare('INSERT INTO reviews (inspection_id, decision, label, user, created_at, note) VALUES (?, ?, ?, ?, ?, ?)');
  const reviewsOf = db.prepare<[string], { id: number; decision: string; label: string | null; user: string; created_at: number; note: string | null }>(
    'SELECT id, decision, label, user, created_at, note FROM reviews WHERE inspection_id = ? ORDER BY id',
  );
  const upsertState = db.prepare(
    `INSERT INTO review_state (inspection_id, decision, label, user, at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (inspection_id) DO UPDATE SET decision = excluded.decision, label = excluded.label, user = excluded.user, at = excluded.at`,
  );
  const deleteState = db.prepare('DELETE FROM review_state WHERE inspection_id = ?');

  /** The verdict in force after replaying an inspection's reviews: each undo pops the one before. */
  function currentOf(id: string) {
    const stack: { decision: string; label: string | null; user: string; created_at: number }[] = [];
    for (const r of reviewsOf.all(id)) {
      if (r.decision === 'undone') stack.pop();
      else stack.push(r);
    }
    return stack.at(-1);
  }

  function syncState(id: string) {
    const top = currentOf(id);
    if (top) upsertState.run(id, top.decision, top.label, top.user, top.created_at);
    else deleteState.run(id);
    return top;
  }

  const recordTx = db.transaction((input: { ids: string[]; decision: Decision; label?: string; note?: string; user: string }) => {
    const missing = input.ids.filter((id) => !exists.get(id));
    if (missing.length > 0) throw new AuthError('NOT_FOUND', `no such inspection: ${missing.slice(0, 5).join(', ')}`, 404);
    const at = now();
    const label = input.decision === 'confirmed' ? 'defect' : input.decision === 'rejected' ? 'good' : input.decision === 'relabeled' ? input.label! : null;
    return input.ids.map((id): RecordedReview => {
      insertReview.run(id, input.decision, label, input.user, at, input.note ?? null);
      syncState(id);
      return { inspectionId: id, decision: input.decision, label: label ?? undefined, user: input.user, at };
    });
  });

  const undoTx = db.transaction((input: { ids: string[]; user: string }) => {
    const at = now();
    const out: RecordedReview[] = [];
    for (const id of input.ids) {
      if (!currentOf(id)) continue;
      // The undone row carries the label now in force, so "the latest row is the current label" holds.
      const stack = reviewsOf.all(id);
      const reviewsAfter: typeof stack = [];
      for (const r of stack) {
        if (r.decision === 'undone') reviewsAfter.pop();
        else reviewsAfter.push(r);
      }
      reviewsAfter.pop();
      const label = reviewsAfter.at(-1)?.label ?? null;
      insertReview.run(id, 'undone', label, input.user, at, null);
      syncState(id);
      out.push({ inspectionId: id, decision: 'undone', label: label ?? undefined, user: input.user, at });
    }
    return out;
  });

  return {
    list(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      const verdict = query.verdict ?? 'flagged';
      if (verdict === 'flagged') where.push("i.verdict <> 'ok'");
      else if (verdict !== 'all') {
        where.push('i.verdict = ?');
        params.push(verdict);
      }
      if (query.camera !== undefined) {
        where.push('i.camera_id = ?');
        params.push(query.camera);
      }
      // Time bounds as id bounds: ids sort by creation time, so the range stays on the index.
      const upper = [query.before, query.to === undefined ? undefined : idAtTime(query.to + 1)].filter((v): v is string => v !== undefined).sort()[0];
      if (upper !== undefined) {
        where.push('i.id < ?');
        params.push(upper);
      }
      if (query.from !== undefined) {
        where.push('i.id >= ?');
        params.push(idAtTime(query.from));
      }
      if (query.model !== undefined) {
        where.push('i.model_version = ?');
        params.push(query.model);
      }
      if (query.minScore !== undefined) {
        where.push('i.score >= ?');
        params.push(query.minScore);
      }
      if (query.maxScore !== undefined) {
        where.push('i.score <= ?');
        params.push(query.maxScore);
      }
      const review = query.review ?? 'any';
      if (review === 'unreviewed') where.push('r.inspection_id IS NULL');
      else if (review === 'reviewed') where.push('r.inspection_id IS NOT NULL');
      else if (review !== 'any') {
        where.push('r.decision = ?');
        params.push(review);
      }
      const sql = `${SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY i.id DESC LIMIT ?`;
      const rows = prepared(sql).all(...params, query.limit + 1);
      const items = rows.slice(0, query.limit).map(fromRow);
      return { items, next: rows.length > query.limit ? items.at(-1)!.id : undefined };
    },

    get(id) {
      const row = byId.get(id);
      return row && fromRow(row);
    },

    neighbours(id, count) {
      const item = byId.get(id);
      if (!item) return { before: [], after: [] };
      const before = prepared(`${SELECT} WHERE i.camera_id = ? AND i.id < ? ORDER BY i.id DESC LIMIT ?`).all(item.camera_id, id, count).map(fromRow);
      const after = prepared(`${SELECT} WHERE i.camera_id = ? AND i.id > ? ORDER BY i.id ASC LIMIT ?`).all(item.camera_id, id, count).map(fromRow);
      return { before, after };
    },

    record: (input) => recordTx.immediate(input),
    undo: (input) => undoTx.immediate(input),

    history: (id) => reviewsOf.all(id).map((r) => ({ id: r.id, decision: r.decision, label: r.label, user: r.user, at: r.created_at, note: r.note })),

    models: () => (db.prepare('SELECT DISTINCT model_version AS v FROM inspections ORDER BY v DESC').pluck().all() as string[]).slice(0, 50),

    stats({ from, to, camera, buckets }) {
      const bucketMs = Math.max(1000, Math.ceil((to - from) / buckets / 1000) * 1000);
      const camWhere = camera === undefined ? '' : ' AND camera_id = ?';
      const camParams = camera === undefined ? [] : [camera];
      const rows = db
        .prepare<unknown[], { camera_id: string; b: number; n: number; d: number; u: number }>(
          `SELECT camera_id, (captured_at - ?) / ? AS b, COUNT(*) AS n, SUM(verdict = 'defect') AS d, SUM(verdict = 'uncertain') AS u
           FROM inspections WHERE captured_at >= ? AND captured_at < ?${camWhere} GROUP BY camera_id, b ORDER BY b`,
        )
        .all(from, bucketMs, from, to, ...camParams);
      const nBuckets = Math.ceil((to - from) / bucketMs);
      const byCamera = new Map<string, Stats['series'][number]>();
      const totals: Record<Verdict, number> = { ok: 0, uncertain: 0, defect: 0 };
      for (const r of rows) {
        let s = byCamera.get(r.camera_id);
        if (!s) {
          const t = Array.from({ length: nBuckets }, (_, i) => (from + i * bucketMs) / 1000);
          s = { cameraId: r.camera_id, t, total: t.map(() => 0), defect: t.map(() => 0), uncertain: t.map(() => 0) };
          byCamera.set(r.camera_id, s);
        }
        const b = Math.min(nBuckets - 1, Math.floor(r.b));
        s.total[b]! += r.n;
        s.defect[b]! += r.d;
        s.uncertain[b]! += r.u;
        totals.defect += r.d;
        totals.uncertain += r.u;
        totals.ok += r.n - r.d - r.u;
      }
      // Latency and scores from the newest inspections in range: enough for quantiles and a histogram.
      const recent = db
        .prepare<unknown[], { score: number; timings: string }>(
          `SELECT score, timings FROM inspections WHERE id >= ? AND id < ?${camWhere} ORDER BY id DESC LIMIT 5000`,
        )
        .all(idAtTime(from), idAtTime(to), ...camParams);
      const inference: number[] = [];
      const total: number[] = [];
      const scores: number[] = [];
      for (const r of recent) {
        const t = JSON.parse(r.timings) as Inspection['timings'];
        inference.push(t.inferenceMs);
        total.push(t.queueMs + t.preprocessMs + t.inferenceMs + t.postprocessMs + (t.encodeMs ?? 0) + (t.storeMs ?? 0));
        if (Number.isFinite(r.score)) scores.push(r.score);
      }
      inference.sort((a, b) => a - b);
      total.sort((a, b) => a - b);
      const lo = Math.min(0, ...scores);
      const hi = Math.max(lo + 1e-6, ...scores);
      const bins = 40;
      const width = (hi - lo) / bins;
      const edges = Array.from({ length: bins }, (_, i) => lo + i * width);
      const counts = edges.map(() => 0);
      for (const s of scores) counts[Math.min(bins - 1, Math.floor((s - lo) / width))]! += 1;
      const agreement = db
        .prepare<unknown[], { verdict: Verdict; decision: string; n: number }>(
          `SELECT i.verdict, r.decision, COUNT(*) AS n FROM review_state r JOIN inspections i ON i.id = r.inspection_id
           WHERE r.inspection_id >= ? AND r.inspection_id < ?${camera === undefined ? '' : ' AND i.camera_id = ?'} GROUP BY 1, 2 ORDER BY 1, 2`,
        )
        .all(idAtTime(from), idAtTime(to), ...camParams);
      const reviewers = db
        .prepare<unknown[], { user: string; n: number }>('SELECT user, COUNT(*) AS n FROM reviews WHERE created_at >= ? AND created_at < ? AND decision <> \'undone\' GROUP BY user ORDER BY n DESC')
        .all(from, to);
      return {
        bucketMs,
        series: [...byCamera.values()],
        totals,
        latencyMs: {
          inference: { p50: quantile(inference, 0.5), p99: quantile(inference, 0.99) },
          total: { p50: quantile(total, 0.5), p99: quantile(total, 0.99) },
          samples: inference.length,
        },
        histogram: { edges, counts, samples: scores.length },
        agreement,
        reviewers,
      };
    },

    preview({ camera, model, thresholds, limit }) {
      const rows = db
        .prepare<[string, string, number], { verdict: Verdict; score: number }>(
          'SELECT verdict, score FROM inspections WHERE camera_id = ? AND model_version = ? ORDER BY id DESC LIMIT ?',
        )
        .all(camera, model, limit);
      const transitions: Record<string, number> = {};
      let changed = 0;
      for (const r of rows) {
        const next = decide(r.score, thresholds);
        if (next !== r.verdict) {
          changed++;
          const key = `${r.verdict}->${next}`;
          transitions[key] = (transitions[key] ?? 0) + 1;
        }
      }
      return { considered: rows.length, changed, transitions };
    },
  };
}
