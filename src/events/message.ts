// The IoT Hub message for an inspection: the documented schema (docs/events.md), built
// once when the inspection is stored, so what is sent after an outage is what was seen.
import type { Inspection, Verdict } from '../common/types.js';

export const EVENT_SCHEMA = 'visor.inspection/1';
export const HEALTH_SCHEMA = 'visor.health/1';

export type EventType = 'defect' | 'uncertain' | 'health';

export interface ImageReference {
  /** Local id of the image: the inspection id (the review UI and the store find it by this). */
  localId: string;
  /** Path of the stored JPEG under the device's data dir, if the frame was stored. */
  path?: string;
  overlayPath?: string;
  /** Blob URL (without any SAS) once the image was uploaded. */
  url?: string;
}

export interface InspectionEventBody {
  schema: typeof EVENT_SCHEMA;
  eventType: 'defect' | 'uncertain';
  inspectionId: string;
  cameraId: string;
  frameSeq: number;
  verdict: Verdict;
  score: number;
  classes?: Inspection['classes'];
  boxes?: Inspection['boxes'];
  model: Inspection['model'];
  thresholds: Inspection['thresholds'];
  timings: Inspection['timings'];
  /** ISO 8601 timestamps. */
  capturedAt: string;
  inferredAt: string;
  decidedAt: string;
  image: ImageReference;
  sourceFile?: string;
}

/** A message ready for any transport (IoT Hub client or the local sink). */
export interface OutgoingEvent {
  messageId: string;
  /** JSON text; sent as UTF-8 with contentType application/json. */
  body: string;
  /** Application properties, for IoT Hub routing. */
  properties: Record<string, string>;
}

export const CONTENT_TYPE = 'application/json';
export const CONTENT_ENCODING = 'utf-8';

export function severityOf(eventType: EventType): string {
  return eventType === 'defect' ? 'high' : eventType === 'uncertain' ? 'medium' : 'info';
}

/** Which inspections become events. */
export function eventTypeOf(inspection: Inspection, sendUncertain: boolean): 'defect' | 'uncertain' | undefined {
  if (inspection.verdict === 'defect') return 'defect';
  if (inspection.verdict === 'uncertain' && sendUncertain) return 'uncertain';
  return undefined;
}

export function inspectionBody(inspection: Inspection, eventType: 'defect' | 'uncertain'): InspectionEventBody {
  const image: ImageReference = { localId: inspection.id };
  if (inspection.imagePath !== undefined) image.path = inspection.imagePath;
  if (inspection.overlayPath !== undefined) image.overlayPath = inspection.overlayPath;
  const body: InspectionEventBody = {
    schema: EVENT_SCHEMA,
    eventType,
    inspectionId: inspection.id,
    cameraId: inspection.cameraId,
    frameSeq: inspection.frameSeq,
    verdict: inspection.verdict,
    score: inspection.score,
    model: inspection.model,
    thresholds: inspection.thresholds,
    timings: inspection.timings,
    capturedAt: new Date(inspection.capturedAt).toISOString(),
    inferredAt: new Date(inspection.inferredAt).toISOString(),
    decidedAt: new Date(inspection.decidedAt).toISOString(),
    image,
  };
  if (inspection.classes !== undefined) body.classes = inspection.classes;
  if (inspection.boxes !== undefined) body.boxes = inspection.boxes;
  if (inspection.sourceFile !== undefined) body.sourceFile = inspection.sourceFile;
  return body;
}

export function routingProperties(eventType: EventType, cameraId: string | undefined, modelVersion: string): Record<string, string> {
  const properties: Record<string, string> = { eventType, severity: severityOf(eventType), modelVersion };
  if (cameraId !== undefined) properties.cameraId = cameraId;
  return properties;
}
