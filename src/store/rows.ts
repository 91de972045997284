// How an inspection is a row of `inspections`, and the one query over them (the store's list
// and the review queue): filters → WHERE, prepared statements cached by their SQL.
import type Database from 'better-sqlite3';
import { StoreError } from '../common/errors.js';
import type { Geometry, Size } from '../common/geometry.js';
import type { HeatMap, Inspection, Verdict } from '../common/types.js';

export interface InspectionRow {
  id: string;
  camera_id: string;
  frame_seq: number;
  captured_at: number;
  inferred_at: number;
  decided_at: number;
  verdict: Verdict;
  score: number;
  classes: string | null;
  boxes: string | null;
  model_name: string;
  model_version: string;
  model_task: Inspection['model']['task'];
  thresholds: string;
  timings: string;
  image_path: string | null;
  overlay_path: string | null;
  image_bytes: number;
  source_file: string | null;
  image_shed: string | null;
  /** JSON OverlayData (encodeOverlayData); NULL for rows without one (and rows stored before it existed). */
  overlay_data: string | null;
}

/**
 * What an overlay is drawn from, kept with the image instead of a rendered overlay (a few
 * hundred bytes): the heat map as data and where the model's frame lies in the stored image
 * (the options of renderOverlay, as they were when the frame was inspected).
 */
export interface OverlayData {
  heatMap?: HeatMap;
  roi?: { x: number; y: number; width: number; height: number };
  geometry?: Pick<Geometry, 'resize' | 'frame'>;
  inputSize?: Size;
}

interface OverlayJson extends Omit<OverlayData, 'heatMap'> {
  heatMap?: { width: number; height: number; values: number[] };
}

export function encodeOverlayData(o: OverlayData): string {
  const { heatMap, ...placement } = o;
  const json: OverlayJson = { ...placement };
  if (heatMap) {
    if (heatMap.data.length !== heatMap.width * heatMap.height) throw new StoreError(`heat map ${heatMap.width}x${heatMap.height} has ${heatMap.data.length} values`);
    // Six significant digits: far finer than a colour step, and an 8×8 map stays a few hundred bytes.
    json.heatMap = { width: heatMap.width, height: heatMap.height, values: Array.from(heatMap.data, (v) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : v)) };
  }
  return JSON.stringify(json);
}

export function decodeOverlayData(text: string): OverlayData {
  const json = JSON.parse(text) as OverlayJson;
  const { heatMap, ...placement } = json;
  // JSON has no NaN: it came back as null, which is what the renderer treats as "cannot tell" too.
  return heatMap ? { ...placement, heatMap: { width: heatMap.width, height: heatMap.height, data: Float32Array.from(heatMap.values, (v) => v ?? Number.NaN) } } : placement;
}

export function toRow(i: Inspection, imageBytes: number, overlayData?: string): InspectionRow {
  return {
    id: i.id,
    camera_id: i.cameraId,
    frame_seq: i.frameSeq,
    captured_at: i.capturedAt,
    inferred_at: i.inferredAt,
    decided_at: i.decidedAt,
    verdict: i.verdict,
    score: i.score,
    classes: i.classes === undefined ? null : JSON.stringify(i.classes),
    boxes: i.boxes === undefined ? null : JSON.stringify(i.boxes),
    model_name: i.model.name,
    model_version: i.model.version,
    model_task: i.model.task,
    thresholds: JSON.stringify(i.thresholds),
    timings: JSON.stringify(i.timings),
    image_path: i.imagePath ?? null,
    overlay_path: i.overlayPath ?? null,
    image_bytes: imageBytes,
    source_file: i.sourceFile ?? null,
    image_shed: i.imageShed ?? null,
    overlay_data: overlayData ?? null,
  };
}

export function fromRow(r: InspectionRow): Inspection {
  const i: Inspection = {
    id: r.id,
    cameraId: r.camera_id,
    frameSeq: r.frame_seq,
    capturedAt: r.captured_at,
    inferredAt: r.inferred_at,
    decidedAt: r.decided_at,
    verdict: r.verdict,
    score: r.score,
    model: { name: r.model_name, version: r.model_version, task: r.model_task },
    thresholds: JSON.parse(r.thresholds) as Inspection['thresholds'],
    timings: JSON.parse(r.timings) as Inspection['timings'],
  };
  if (r.classes !== null) i.classes = JSON.parse(r.classes) as NonNullable<Inspection['classes']>;
  if (r.boxes !== null) i.boxes = JSON.parse(r.boxes) as NonNullable<Inspection['boxes']>;
  if (r.image_path !== null) i.imagePath = r.image_path;
  if (r.overlay_path !== null) i.overlayPath = r.overlay_path;
  if (r.source_file !== null) i.sourceFile = r.source_file;
  if (r.image_shed !== null) i.imageShed = r.image_shed;
  if (r.overlay_data !== null) i.overlayData = true;
  return i;
}

/** Which review state an inspection is in (review_state, src/store/schema/review.ts). */
export const REVIEW_FILTERS = ['any', 'unreviewed', 'reviewed', 'confirmed', 'rejected', 'relabeled', 'needs-expert'] as const;
export type ReviewFilter = (typeof REVIEW_FILTERS)[number];
/** Frames a shadow candidate (shadow_scores, src/store/schema/learning.ts) disagrees on: either way, live ok / candidate defect, or the reverse. */
export const SHADOW_FILTERS = ['disagree', 'live-ok', 'live-defect'] as const;
export type ShadowFilter = (typeof SHADOW_FILTERS)[number];

export interface InspectionFilter {
  /** Only ids below this one (the keyset cursor of a newest-first page, or an upper time bound as an id). */
  below?: string;
  /** Only ids above this one. */
  above?: string;
  /** Only ids at or above this one (a lower time bound as an id). */
  atLeast?: string;
  cameraId?: string;
  /** 'flagged' = defect or uncertain. */
  verdict?: Verdict | 'flagged';
  modelVersion?: string;
  minScore?: number;
  maxScore?: number;
  review?: ReviewFilter;
  shadow?: ShadowFilter;
}

/** An inspections row with the columns of its review_state row (null when unreviewed). */
export interface ReviewedRow extends InspectionRow {
  r_decision: string | null;
  r_label: string | null;
  r_user: string | null;
  r_at: number | null;
  r_note: string | null;
}

const SELECT = `SELECT i.*, r.decision AS r_decision, r.label AS r_label, r.user AS r_user, r.at AS r_at, r.note AS r_note
  FROM inspections i LEFT JOIN review_state r ON r.inspection_id = i.id`;

function where(f: InspectionFilter): { clauses: string[]; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value?: unknown) => {
    clauses.push(clause);
    if (value !== undefined) params.push(value);
  };
  if (f.verdict === 'flagged') add("i.verdict <> 'ok'");
  else if (f.verdict !== undefined) add('i.verdict = ?', f.verdict);
  if (f.cameraId !== undefined) add('i.camera_id = ?', f.cameraId);
  if (f.below !== undefined) add('i.id < ?', f.below);
  if (f.above !== undefined) add('i.id > ?', f.above);
  if (f.atLeast !== undefined) add('i.id >= ?', f.atLeast);
  if (f.modelVersion !== undefined) add('i.model_version = ?', f.modelVersion);
  if (f.minScore !== undefined) add('i.score >= ?', f.minScore);
  if (f.maxScore !== undefined) add('i.score <= ?', f.maxScore);
  const review = f.review ?? 'any';
  if (review === 'unreviewed') add('r.inspection_id IS NULL');
  else if (review === 'reviewed') add('r.inspection_id IS NOT NULL');
  else if (review !== 'any') add('r.decision = ?', review);
  if (f.shadow === 'disagree') add('EXISTS (SELECT 1 FROM shadow_scores s WHERE s.inspection_id = i.id AND s.disagreement IS NOT NULL)');
  else if (f.shadow !== undefined) add('EXISTS (SELECT 1 FROM shadow_scores s WHERE s.inspection_id = i.id AND s.disagreement = ?)', f.shadow);
  return { clauses, params };
}

export interface InspectionQueries {
  /** Inspections matching `filter` in id order (newest first unless `order` is 'asc'), at most `limit`. */
  find(filter: InspectionFilter, limit: number, order?: 'asc' | 'desc'): ReviewedRow[];
  byId(id: string): ReviewedRow | undefined;
}

export function createInspectionQueries(db: Database.Database): InspectionQueries {
  const statements = new Map<string, Database.Statement<unknown[], ReviewedRow>>();
  const prepared = (sql: string) => {
    let s = statements.get(sql);
    if (s === undefined) statements.set(sql, (s = db.prepare<unknown[], ReviewedRow>(sql)));
    return s;
  };
  const byId = db.prepare<[string], ReviewedRow>(`${SELECT} WHERE i.id = ?`);
  return {
    find(filter, limit, order = 'desc') {
      const { clauses, params } = where(filter);
      const sql = `${SELECT}${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY i.id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`;
      return prepared(sql).all(...params, limit);
    },
    byId: (id) => byId.get(id),
  };
}
