import { newId } from '../../src/common/ids.js';
import type { Inspection } from '../../src/common/types.js';

/**
 * An inspection as the pipeline would store it: a defect of the demo model on camera "cells",
 * required fields only, `overrides` on top. Inferred and decided a few ms after `capturedAt`
 * (default now); the id is made from `capturedAt`.
 */
export function makeInspection(overrides: Partial<Inspection> = {}): Inspection {
  const capturedAt = overrides.capturedAt ?? Date.now();
  return {
    id: newId(capturedAt),
    cameraId: 'cells',
    frameSeq: 1,
    capturedAt,
    inferredAt: capturedAt + 5,
    decidedAt: capturedAt + 6,
    verdict: 'defect',
    score: 1.2,
    model: { name: 'elpv-cells', version: '0.1.0', task: 'anomaly' },
    thresholds: { defect: 1, uncertainBand: 0.2 },
    timings: { queueMs: 1, preprocessMs: 1, inferenceMs: 3, postprocessMs: 1 },
    ...overrides,
  };
}
