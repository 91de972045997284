// Queries of the review UI over the store: the queue (keyset-paged) and neighbours through the
// store's inspection query, verdicts with undo through the store's review module, and stats and
// threshold previews in plain SQL on the store's connection.
import type Database from 'better-sqlite3';
import { decide } from '../inference/decision.js';
import type { Inspection, Thresholds, Verdict } from '../common/types.js';
import { DECISIONS, REVIEW_FILTERS, SHADOW_FILTERS, type Decision, type RecordedReview, type ReviewEntry, type ReviewInput, type ReviewState, type ReviewedInspection, type Store } from '../store/index.js';

export { DECISIONS, REVIEW_FILTERS, SHADOW_FILTERS, type Decision, type RecordedReview, type ReviewState };
export const VERDICT_FILTERS = ['flagged', 'defect', 'uncertain', 'ok', 'all'] as const;
export const MAX_BULK = 500;

export type QueueItem = ReviewedInspection;

export interface QueueQuery {
  limit: number;
  before?: string;
  camera?: string;
  from?: number;
  to?: number;
  verdict?: (typeof VERDICT_FILTERS)[number];
  review?: (typeof REVIEW_FILTERS)[number];
  /** Frames the shadow candidate disagrees on (src/learning). */
  shadow?: (typeof SHADOW_FILTERS)[number];
  model?: string;
  minScore?: number;
  maxScore?: number;
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
  /** Stores the verdict for every id in one transaction; throws NotFoundError (404) naming unknown ids (nothing stored then). */
  record(input: ReviewInput): RecordedReview[];
  /** Pops the verdict in force of each id (an 'undone' row); ids without one are skipped. */
  undo(input: { ids: string[]; user: string }): RecordedReview[];
  history(id: string): ReviewEntry[];
  models(): string[];
  stats(input: { from: number; to: number; camera?: string; buckets: number }): Stats;
  /** How many of the newest inspections of `model` would get another verdict under `thresholds` than under `current` (the thresholds in force). */
  preview(input: { camera: string; model: string; current: Thresholds; thresholds: Thresholds; limit: number }): ThresholdPreview;
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

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function createReviewQueue(deps: { store: Store }): ReviewQueue {
  const db: Database.Database = deps.store.db;
  const reviews = deps.store.reviews;

  return {
    list(query) {
      // Time bounds as id bounds: ids sort by creation time, so the range stays on the index.
      const upper = [query.before, query.to === undefined ? undefined : idAtTime(query.to + 1)].filter((v): v is string => v !== undefined).sort()[0];
      const verdict = query.verdict ?? 'flagged';
      const rows = reviews.find(
        {
          verdict: verdict === 'all' ? undefined : verdict,
          cameraId: query.camera,
          below: upper,
          atLeast: query.from === undefined ? undefined : idAtTime(query.from),
          modelVersion: query.model,
          minScore: query.minScore,
          maxScore: query.maxScore,
          review: query.review,
          shadow: query.shadow,
        },
        query.limit + 1,
      );
      const items = rows.slice(0, query.limit);
      return { items, next: rows.length > query.limit ? items.at(-1)!.id : undefined };
    },

    get: (id) => reviews.get(id),

    neighbours(id, count) {
      const item = reviews.get(id);
      if (!item) return { before: [], after: [] };
      return {
        before: reviews.find({ cameraId: item.cameraId, below: id }, count),
        after: reviews.find({ cameraId: item.cameraId, above: id }, count, 'asc'),
      };
    },

    record: (input) => reviews.record(input),
    undo: (input) => reviews.undo(input),
    history: (id) => reviews.history(id),

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
        // The verdicts in force, as the agreement table counts them: an undone verdict counts for no one.
        .prepare<unknown[], { user: string; n: number }>(
          `SELECT r.user, COUNT(*) AS n FROM review_state r JOIN inspections i ON i.id = r.inspection_id
           WHERE r.inspection_id >= ? AND r.inspection_id < ?${camera === undefined ? '' : ' AND i.camera_id = ?'} GROUP BY r.user ORDER BY n DESC, r.user`,
        )
        .all(idAtTime(from), idAtTime(to), ...camParams);
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

    preview({ camera, model, current, thresholds, limit }) {
      // Against the thresholds in force, not the verdicts stored: frames stored before the last
      // change carry the old verdicts, and applying what is in force again changes nothing.
      const rows = db
        .prepare<[string, string, number], { score: number }>('SELECT score FROM inspections WHERE camera_id = ? AND model_version = ? ORDER BY id DESC LIMIT ?')
        .all(camera, model, limit);
      const transitions: Record<string, number> = {};
      let changed = 0;
      for (const r of rows) {
        const now = decide(r.score, current);
        const next = decide(r.score, thresholds);
        if (next !== now) {
          changed++;
          const key = `${now}->${next}`;
          transitions[key] = (transitions[key] ?? 0) + 1;
        }
      }
      return { considered: rows.length, changed, transitions };
    },
  };
}
