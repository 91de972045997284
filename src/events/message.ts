// The IoT Hub message for an inspection: the documented schema (docs/events.md), built
// once when the inspection is stored, so what is sent after an outage is what was seen.
import { Type, type Static } from '@sinclair/typebox';
import { InspectionSchema, type Inspection } from '../common/types.js';

export const EVENT_SCHEMA = 'visor.inspection/1';
export const HEALTH_SCHEMA = 'visor.health/1';
export const MODEL_CHANGE_SCHEMA = 'visor.model-change/1';

export type EventType = 'defect' | 'uncertain' | 'health' | 'model';

export const ImageReferenceSchema = Type.Object({
  localId: Type.String({ description: 'Local id of the image: the inspection id (the review UI and the store find it by this).' }),
  path: Type.Optional(Type.String({ description: "Path of the stored JPEG under the device's data dir, if the frame was stored." })),
  overlayPath: Type.Optional(Type.String()),
  url: Type.Optional(Type.String({ description: 'Blob URL (without any SAS) once the image was uploaded.' })),
});
export type ImageReference = Static<typeof ImageReferenceSchema>;

/** The Inspection schema (src/common/types.ts) as sent: id as inspectionId, ISO 8601 timestamps, store paths under `image`. */
export const InspectionEventBodySchema = Type.Composite([
  Type.Object({ schema: Type.Literal(EVENT_SCHEMA), eventType: Type.Union([Type.Literal('defect'), Type.Literal('uncertain')]), inspectionId: Type.String() }),
  Type.Omit(InspectionSchema, ['id', 'capturedAt', 'inferredAt', 'decidedAt', 'imagePath', 'overlayPath']),
  Type.Object({ capturedAt: Type.String(), inferredAt: Type.String(), decidedAt: Type.String(), image: ImageReferenceSchema }),
  Type.Object({ partId: Type.Optional(Type.String({ description: 'The part this inspection is a view of, when a station was triggered for it (docs/stations.md).' })) }),
]);
export type InspectionEventBody = Static<typeof InspectionEventBodySchema>;

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

export function inspectionBody(inspection: Inspection, eventType: 'defect' | 'uncertain', partId?: string): InspectionEventBody {
  const { id, capturedAt, inferredAt, decidedAt, imagePath, overlayPath, ...fields } = inspection;
  const image: ImageReference = { localId: id };
  if (imagePath !== undefined) image.path = imagePath;
  if (overlayPath !== undefined) image.overlayPath = overlayPath;
  return {
    schema: EVENT_SCHEMA,
    eventType,
    inspectionId: id,
    ...fields,
    capturedAt: new Date(capturedAt).toISOString(),
    inferredAt: new Date(inferredAt).toISOString(),
    decidedAt: new Date(decidedAt).toISOString(),
    image,
    ...(partId === undefined ? {} : { partId }),
  };
}

export function routingProperties(eventType: EventType, cameraId: string | undefined, modelVersion: string, partId?: string): Record<string, string> {
  const properties: Record<string, string> = { eventType, severity: severityOf(eventType), modelVersion };
  if (cameraId !== undefined) properties.cameraId = cameraId;
  if (partId !== undefined) properties.partId = partId;
  return properties;
}
