// What goes to Blob Storage beside each image: the JSON sidecar (the full record an ML
// team needs to retrain), blob metadata (fixed at upload) and index tags (kept current).
import type { Database } from 'better-sqlite3';
import type { CameraConfig } from '../config/schema.js';
import type { Inspection, Verdict } from '../common/types.js';
import { tagValue } from './blob.js';

export const SIDECAR_SCHEMA = 'visor.sample/1';

export interface CurrentLabel {
  /** 'good', 'defect', 'uncertain' or a class name. */
  label: string;
  reviewed: boolean;
  review?: { decision: string; label: string | null; user: string; at: number; note: string | null };
}

/** The label a model verdict implies, before any review. */
export function modelLabel(verdict: Verdict): string {
  return verdict === 'ok' ? 'good' : verdict;
}

interface ReviewRow {
  decision: string;
  label: string | null;
  user: string;
  created_at: number;
  note: string | null;
}

/** The reviews table (src/store/schema/review.ts) is the source of truth: its latest row per inspection is the current label. */
export function currentLabel(db: Database, inspection: Inspection): CurrentLabel {
  const row = db
    .prepare<[string], ReviewRow>('SELECT decision, label, user, created_at, note FROM reviews WHERE inspection_id = ? ORDER BY id DESC LIMIT 1')
    .get(inspection.id);
  if (row === undefined) return { label: modelLabel(inspection.verdict), reviewed: false };
  const review = { decision: row.decision, label: row.label, user: row.user, at: row.created_at, note: row.note };
  // needs-expert and "undone back to no review" carry no label: the model's stands, unreviewed.
  if (row.label === null) return { label: row.decision === 'needs-expert' ? 'uncertain' : modelLabel(inspection.verdict), reviewed: false, review };
  return { label: row.label, reviewed: true, review };
}

/** Camera settings that shaped the image, without the source (an RTSP URL can hold a password). */
export function cameraSettings(camera: CameraConfig | undefined): Record<string, unknown> | undefined {
  if (!camera) return undefined;
  const { source: _source, ...rest } = camera;
  return rest;
}

export interface SidecarInput {
  line: string;
  inspection: Inspection;
  label: CurrentLabel;
  camera: CameraConfig | undefined;
  decision: { reason: string; override: string | null; decidedAt: number } | undefined;
  image: { blob: string; bytes: number };
}

export interface Sidecar {
  schema: typeof SIDECAR_SCHEMA;
  line: string;
  inspectionId: string;
  cameraId: string;
  capturedAt: string;
  label: string;
  reviewed: boolean;
  review: CurrentLabel['review'] | null;
  verdict: Verdict;
  score: number;
  model: Inspection['model'];
  thresholds: Inspection['thresholds'];
  image: { blob: string; bytes: number; contentType: 'image/jpeg' };
  upload: SidecarInput['decision'] | null;
  camera: Record<string, unknown> | null;
  inspection: Inspection;
}

export function buildSidecar(input: SidecarInput): Sidecar {
  const { inspection } = input;
  return {
    schema: SIDECAR_SCHEMA,
    line: input.line,
    inspectionId: inspection.id,
    cameraId: inspection.cameraId,
    capturedAt: new Date(inspection.capturedAt).toISOString(),
    label: input.label.label,
    reviewed: input.label.reviewed,
    review: input.label.review ?? null,
    verdict: inspection.verdict,
    score: inspection.score,
    model: inspection.model,
    thresholds: inspection.thresholds,
    image: { ...input.image, contentType: 'image/jpeg' },
    upload: input.decision ?? null,
    camera: cameraSettings(input.camera) ?? null,
    inspection,
  };
}

/**
 * Index tags (at most 10 per blob) on both the image and the sidecar, so `findBlobsByTags`
 * can select by any of them; `kind` tells the two apart. capturedAt is ISO text, whose order
 * is time order, so date ranges work as tag comparisons.
 */
export function blobTags(line: string, inspection: Inspection, label: CurrentLabel, kind: 'image' | 'sidecar'): Record<string, string> {
  return {
    kind,
    line: tagValue(line),
    camera: tagValue(inspection.cameraId),
    label: tagValue(label.label),
    verdict: inspection.verdict,
    reviewed: String(label.reviewed),
    model: tagValue(inspection.model.name),
    modelVersion: tagValue(inspection.model.version),
    capturedAt: new Date(inspection.capturedAt).toISOString(),
    inspectionId: inspection.id,
  };
}

/** Blob metadata: provenance at upload time. Never changed afterwards, so an image's etag stays stable for resumable pulls. */
export function blobMetadata(line: string, inspection: Inspection): Record<string, string> {
  return {
    inspectionid: inspection.id,
    line,
    camera: inspection.cameraId,
    verdict: inspection.verdict,
    score: String(inspection.score),
    modelname: inspection.model.name,
    modelversion: inspection.model.version,
    thresholddefect: String(inspection.thresholds.defect),
    thresholduncertainband: String(inspection.thresholds.uncertainBand),
    capturedat: new Date(inspection.capturedAt).toISOString(),
  };
}
