// What goes to Blob Storage beside each image: the JSON sidecar (the full record an ML
// team needs to retrain), blob metadata (fixed at upload) and index tags (kept current).
import type { CameraConfig } from '../config/schema.js';
import type { Inspection, Verdict } from '../common/types.js';
import type { CurrentLabel } from '../store/index.js';
import { tagValue } from './blob.js';

export const SIDECAR_SCHEMA = 'visor.sample/1';

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
  /** The part this inspection is a view of (a triggered station), if any. */
  part?: { partId: string; stationId: string };
}

export interface Sidecar {
  schema: typeof SIDECAR_SCHEMA;
  line: string;
  inspectionId: string;
  cameraId: string;
  part: { partId: string; stationId: string } | null;
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
    part: input.part ?? null,
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
