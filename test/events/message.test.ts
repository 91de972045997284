// The IoT Hub event body is the Inspection schema as sent: a field of the Inspection reaches the hub.
import { describe, expect, it } from 'vitest';
import { InspectionSchema } from '../../src/common/types.js';
import { inspectionBody } from '../../src/events/message.js';
import { makeInspection } from '../store/helpers.js';

describe('inspection event body', () => {
  it('carries every field of the Inspection schema (id as inspectionId, times as ISO text, paths under image)', () => {
    const inspection = { ...makeInspection(), imagePath: 'images/cam-1/2026-05-02/a.jpg', overlayPath: 'images/cam-1/2026-05-02/a.overlay.jpg', overlayData: true };
    const body = JSON.parse(JSON.stringify(inspectionBody(inspection, 'defect'))) as Record<string, unknown>;
    const renamed: Record<string, string> = { id: 'inspectionId', imagePath: 'image', overlayPath: 'image' };
    for (const key of Object.keys(InspectionSchema.properties)) expect(body, key).toHaveProperty(renamed[key] ?? key);
    const { id, capturedAt, inferredAt, decidedAt, imagePath, overlayPath, ...same } = inspection;
    expect(body).toEqual({
      schema: 'visor.inspection/1',
      eventType: 'defect',
      inspectionId: id,
      ...same,
      capturedAt: new Date(capturedAt).toISOString(),
      inferredAt: new Date(inferredAt).toISOString(),
      decidedAt: new Date(decidedAt).toISOString(),
      image: { localId: id, path: imagePath, overlayPath },
    });
  });
});
