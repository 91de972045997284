// The learning tables (src/store/schema/learning.ts) on the store's connection: shadow scores,
// candidates, and the promotions and rollbacks. This file is their only writer.
import type Database from 'better-sqlite3';
import type { Thresholds, Verdict } from '../common/types.js';
import type { ScoredPair } from './compare.js';

export type CandidateStatus = 'fitting' | 'ready' | 'failed' | 'promoted' | 'retired';

export interface CandidateRecord {
  version: string;
  dir: string;
  status: CandidateStatus;
  source: string;
  createdAt: number;
  finishedAt?: number;
  error?: string;
  dataset?: DatasetManifest;
  fleet?: unknown;
}

/** What a candidate was fitted on: for the ML team, uploaded with it. */
export interface DatasetManifest {
  /** The live model the reviewed frames came from. */
  liveModel: { name: string; version: string };
  images: Array<{ inspectionId: string; cameraId: string; file: string; label: 'good' | 'defect'; reviewed: boolean }>;
  /** Reviewed inspections left out (no label in force, or the image gone). */
  skipped: number;
}

export interface ModelChange {
  id: number;
  at: number;
  action: 'promote' | 'rollback';
  user: string;
  fromVersion: string;
  fromDir: string;
  toVersion: string;
  toDir: string;
  comparison?: unknown;
}

export type Disagreement = 'live-ok' | 'live-defect';

/** Live ok / candidate defect, or the reverse; uncertain on either side is no disagreement. */
export function disagreementOf(live: Verdict, candidate: Verdict): Disagreement | undefined {
  if (live === 'ok' && candidate === 'defect') return 'live-ok';
  if (live === 'defect' && candidate === 'ok') return 'live-defect';
  return undefined;
}

export interface LearningRecords {
  addShadowScore(row: { inspectionId: string; candidate: string; score: number; verdict: Verdict; disagreement?: Disagreement; at: number; inferenceMs: number }): void;
  shadowCounts(candidate: string): { scored: number; disagreements: number; liveOk: number; liveDefect: number };
  /** Reviewed frames the candidate scored beside live model `liveVersion`, with the live score and threshold. */
  reviewedPairs(candidate: string, liveVersion: string): ScoredPair[];
  putCandidate(c: CandidateRecord): void;
  setCandidate(version: string, fields: Partial<Pick<CandidateRecord, 'status' | 'finishedAt' | 'error' | 'dataset' | 'fleet'>>): void;
  candidate(version: string): CandidateRecord | undefined;
  candidates(limit: number): CandidateRecord[];
  addChange(change: Omit<ModelChange, 'id'>): ModelChange;
  changes(limit: number): ModelChange[];
  /** Verdicts given since `since` (epoch ms): the "every N verdicts" rule. */
  verdictsSince(since: number): number;
}

interface CandidateRow {
  version: string;
  dir: string;
  status: CandidateStatus;
  source: string;
  created_at: number;
  finished_at: number | null;
  error: string | null;
  dataset: string | null;
  fleet: string | null;
}

const fromCandidateRow = (r: CandidateRow): CandidateRecord => ({
  version: r.version,
  dir: r.dir,
  status: r.status,
  source: r.source,
  createdAt: r.created_at,
  ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
  ...(r.error !== null ? { error: r.error } : {}),
  ...(r.dataset !== null ? { dataset: JSON.parse(r.dataset) as DatasetManifest } : {}),
  ...(r.fleet !== null ? { fleet: JSON.parse(r.fleet) as unknown } : {}),
});

export function createLearningRecords(db: Database.Database): LearningRecords {
  const insertShadow = db.prepare(
    'INSERT OR REPLACE INTO shadow_scores (inspection_id, candidate, score, verdict, disagreement, scored_at, inference_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const counts = db.prepare<[string], { scored: number; disagreements: number | null; liveOk: number | null; liveDefect: number | null }>(
    `SELECT COUNT(*) AS scored, SUM(disagreement IS NOT NULL) AS disagreements, SUM(disagreement = 'live-ok') AS liveOk, SUM(disagreement = 'live-defect') AS liveDefect
       FROM shadow_scores WHERE candidate = ?`,
  );
  const pairs = db.prepare<[string, string], { label: string; live: number; candidate: number; thresholds: string }>(
    `SELECT r.label AS label, i.score AS live, s.score AS candidate, i.thresholds AS thresholds
       FROM shadow_scores s JOIN inspections i ON i.id = s.inspection_id JOIN review_state r ON r.inspection_id = s.inspection_id
      WHERE s.candidate = ? AND i.model_version = ? AND r.label IS NOT NULL ORDER BY s.inspection_id`,
  );
  const upsertCandidate = db.prepare(
    `INSERT INTO learning_candidates (version, dir, status, source, created_at, finished_at, error, dataset, fleet) VALUES (@version, @dir, @status, @source, @created_at, @finished_at, @error, @dataset, @fleet)
     ON CONFLICT (version) DO UPDATE SET dir = excluded.dir, status = excluded.status, source = excluded.source, finished_at = excluded.finished_at, error = excluded.error, dataset = excluded.dataset, fleet = excluded.fleet`,
  );
  const candidateRow = db.prepare<[string], CandidateRow>('SELECT * FROM learning_candidates WHERE version = ?');
  const candidateRows = db.prepare<[number], CandidateRow>('SELECT * FROM learning_candidates ORDER BY created_at DESC, version DESC LIMIT ?');
  const insertChange = db.prepare('INSERT INTO learning_changes (at, action, user, from_version, from_dir, to_version, to_dir, comparison) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const changeRows = db.prepare<[number], { id: number; at: number; action: 'promote' | 'rollback'; user: string; from_version: string; from_dir: string; to_version: string; to_dir: string; comparison: string | null }>(
    'SELECT * FROM learning_changes ORDER BY id DESC LIMIT ?',
  );
  const verdicts = db.prepare<[number], number>("SELECT COUNT(*) FROM reviews WHERE created_at > ? AND decision <> 'undone'").pluck();

  const toRow = (c: CandidateRecord) => ({
    version: c.version,
    dir: c.dir,
    status: c.status,
    source: c.source,
    created_at: c.createdAt,
    finished_at: c.finishedAt ?? null,
    error: c.error ?? null,
    dataset: c.dataset === undefined ? null : JSON.stringify(c.dataset),
    fleet: c.fleet === undefined ? null : JSON.stringify(c.fleet),
  });

  return {
    addShadowScore(r) {
      insertShadow.run(r.inspectionId, r.candidate, r.score, r.verdict, r.disagreement ?? null, r.at, r.inferenceMs);
    },
    shadowCounts(candidate) {
      const r = counts.get(candidate)!;
      return { scored: r.scored, disagreements: r.disagreements ?? 0, liveOk: r.liveOk ?? 0, liveDefect: r.liveDefect ?? 0 };
    },
    reviewedPairs(candidate, liveVersion) {
      return pairs.all(candidate, liveVersion).map((r) => ({
        defect: r.label.toLowerCase() !== 'good',
        live: r.live,
        candidate: r.candidate,
        liveThreshold: (JSON.parse(r.thresholds) as Thresholds).defect,
      }));
    },
    putCandidate(c) {
      upsertCandidate.run(toRow(c));
    },
    setCandidate(version, fields) {
      const current = candidateRow.get(version);
      if (!current) return;
      upsertCandidate.run(toRow({ ...fromCandidateRow(current), ...fields }));
    },
    candidate(version) {
      const r = candidateRow.get(version);
      return r === undefined ? undefined : fromCandidateRow(r);
    },
    candidates: (limit) => candidateRows.all(limit).map(fromCandidateRow),
    addChange(change) {
      const id = Number(insertChange.run(change.at, change.action, change.user, change.fromVersion, change.fromDir, change.toVersion, change.toDir, change.comparison === undefined ? null : JSON.stringify(change.comparison)).lastInsertRowid);
      return { id, ...change };
    },
    changes: (limit) =>
      changeRows.all(limit).map((r) => ({
        id: r.id,
        at: r.at,
        action: r.action,
        user: r.user,
        fromVersion: r.from_version,
        fromDir: r.from_dir,
        toVersion: r.to_version,
        toDir: r.to_dir,
        ...(r.comparison !== null ? { comparison: JSON.parse(r.comparison) as unknown } : {}),
      })),
    verdictsSince: (since) => verdicts.get(since) ?? 0,
  };
}
