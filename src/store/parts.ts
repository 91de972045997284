// Part inspections (src/stations): one row per trigger, the inspection each camera gave it,
// and the audit of recipe switches. Tables: src/store/schema/stations.ts.
import type Database from 'better-sqlite3';
import type { Verdict } from '../common/types.js';

export type PartVerdict = 'ok' | 'ng';

export interface PartView {
  cameraId: string;
  inspectionId: string;
}

export interface PartRecord {
  /** Row id: a part id can come again (a part re-inspected), the row is one trigger. */
  id: number;
  partId: string;
  stationId: string;
  source: string;
  triggeredAt: number;
  deadlineAt: number;
  recipe: number | null;
  /** What the PLC was told; null while waiting for it. */
  verdict: PartVerdict | null;
  resultCode: number | null;
  resultAt: number | null;
  /** True when the deadline passed before the views were in (the PLC got Ng + timeout). */
  late: boolean;
  /** Worst of the views once they were all in (the late verdict when late). */
  viewsVerdict: Verdict | null;
  completedAt: number | null;
  views: PartView[];
}

export type NewPart = Pick<PartRecord, 'partId' | 'stationId' | 'source' | 'triggeredAt' | 'deadlineAt' | 'recipe'>;

export interface PartQuery {
  partId?: string;
  stationId?: string;
  /** Only rows older than this row id. */
  before?: number;
  limit?: number;
}

export interface RecipeChange {
  id: number;
  stationId: string;
  fromIndex: number | null;
  toIndex: number;
  source: string;
  changedAt: number;
}

export interface Parts {
  begin(part: NewPart): number;
  addView(row: number, view: PartView): void;
  /** What the PLC was told, when. */
  result(row: number, result: { verdict: PartVerdict; resultCode: number; at: number; late: boolean }): void;
  /** The views are in (or the late window closed): their worst verdict, null when none came. */
  complete(row: number, result: { viewsVerdict: Verdict | null; at: number; late: boolean }): void;
  get(row: number): PartRecord | undefined;
  /** Newest first. */
  list(query?: PartQuery): PartRecord[];
  /** The part an inspection was a view of, if any. */
  partOfInspection(inspectionId: string): { row: number; partId: string; stationId: string } | undefined;
  recipeChanged(change: Omit<RecipeChange, 'id'>): void;
  recipeChanges(stationId: string, limit?: number): RecipeChange[];
  /**
   * Deletes parts triggered before `before` (retention), the oldest first, at most `limit` of
   * them (default 500) in one transaction, so a long backlog is pruned in steps between which
   * the line's commits go on; returns how many.
   */
  prune(before: number, limit?: number): number;
}

interface PartRow {
  id: number;
  part_id: string;
  station_id: string;
  source: string;
  triggered_at: number;
  deadline_at: number;
  recipe: number | null;
  verdict: PartVerdict | null;
  result_code: number | null;
  result_at: number | null;
  late: number;
  views_verdict: Verdict | null;
  completed_at: number | null;
}

/** Parts deleted per step of a retention pass. */
export const PRUNE_STEP = 500;

/**
 * A retention pass over parts: steps of PRUNE_STEP with the event loop free between them
 * (a day of a fast station is ~100,000 parts); `signal` aborted ends it before the next step,
 * as it does the store's retention pass. Resolves with how many parts went.
 */
export async function pruneParts(parts: Parts, before: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const n = parts.prune(before);
    total += n;
    if (n < PRUNE_STEP) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return total;
}

export function createParts(db: Database.Database): Parts {
  const insert = db.prepare(
    `INSERT INTO parts (part_id, station_id, source, triggered_at, deadline_at, recipe)
     VALUES (@partId, @stationId, @source, @triggeredAt, @deadlineAt, @recipe)`,
  );
  const insertView = db.prepare('INSERT INTO part_views (part, camera_id, inspection_id) VALUES (?, ?, ?)');
  const setResult = db.prepare('UPDATE parts SET verdict = ?, result_code = ?, result_at = ?, late = MAX(late, ?) WHERE id = ?');
  const setComplete = db.prepare('UPDATE parts SET views_verdict = ?, completed_at = ?, late = MAX(late, ?) WHERE id = ?');
  const one = db.prepare<[number], PartRow>('SELECT * FROM parts WHERE id = ?');
  const viewsOf = db.prepare<[number], { camera_id: string; inspection_id: string }>('SELECT camera_id, inspection_id FROM part_views WHERE part = ? ORDER BY camera_id');
  const byInspection = db.prepare<[string], { part: number; part_id: string; station_id: string }>(
    'SELECT v.part, p.part_id, p.station_id FROM part_views v JOIN parts p ON p.id = v.part WHERE v.inspection_id = ? ORDER BY v.part DESC LIMIT 1',
  );
  const insertChange = db.prepare('INSERT INTO recipe_changes (station_id, from_index, to_index, source, changed_at) VALUES (?, ?, ?, ?, ?)');
  const changes = db.prepare<[string, number], { id: number; station_id: string; from_index: number | null; to_index: number; source: string; changed_at: number }>(
    'SELECT * FROM recipe_changes WHERE station_id = ? ORDER BY id DESC LIMIT ?',
  );
  const prune = db.prepare('DELETE FROM parts WHERE id IN (SELECT id FROM parts WHERE triggered_at < ? ORDER BY triggered_at LIMIT ?)');

  function record(row: PartRow): PartRecord {
    return {
      id: row.id,
      partId: row.part_id,
      stationId: row.station_id,
      source: row.source,
      triggeredAt: row.triggered_at,
      deadlineAt: row.deadline_at,
      recipe: row.recipe,
      verdict: row.verdict,
      resultCode: row.result_code,
      resultAt: row.result_at,
      late: row.late === 1,
      viewsVerdict: row.views_verdict,
      completedAt: row.completed_at,
      views: viewsOf.all(row.id).map((v) => ({ cameraId: v.camera_id, inspectionId: v.inspection_id })),
    };
  }

  return {
    begin(part) {
      return Number(insert.run(part).lastInsertRowid);
    },
    addView(row, view) {
      insertView.run(row, view.cameraId, view.inspectionId);
    },
    result(row, r) {
      setResult.run(r.verdict, r.resultCode, r.at, r.late ? 1 : 0, row);
    },
    complete(row, r) {
      setComplete.run(r.viewsVerdict, r.at, r.late ? 1 : 0, row);
    },
    get(row) {
      const found = one.get(row);
      return found ? record(found) : undefined;
    },
    list(query = {}) {
      const where: string[] = [];
      const params: Array<string | number> = [];
      if (query.partId !== undefined) (where.push('part_id = ?'), params.push(query.partId));
      if (query.stationId !== undefined) (where.push('station_id = ?'), params.push(query.stationId));
      if (query.before !== undefined) (where.push('id < ?'), params.push(query.before));
      const limit = Math.min(Math.max(1, query.limit ?? 50), 500);
      const sql = `SELECT * FROM parts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      return (db.prepare(sql).all(...params, limit) as PartRow[]).map(record);
    },
    partOfInspection(inspectionId) {
      const found = byInspection.get(inspectionId);
      return found ? { row: found.part, partId: found.part_id, stationId: found.station_id } : undefined;
    },
    recipeChanged(change) {
      insertChange.run(change.stationId, change.fromIndex, change.toIndex, change.source, change.changedAt);
    },
    recipeChanges(stationId, limit = 100) {
      return changes.all(stationId, limit).map((c) => ({ id: c.id, stationId: c.station_id, fromIndex: c.from_index, toIndex: c.to_index, source: c.source, changedAt: c.changed_at }));
    },
    prune(before, limit = PRUNE_STEP) {
      return prune.run(before, limit).changes;
    },
  };
}
