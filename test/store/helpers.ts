import { Value } from '@sinclair/typebox/value';
import { StoreSection, type StoreConfig } from '../../src/config/schema.js';
import { encodeJpeg } from '../../src/store/images.js';
import type { Inspection } from '../../src/common/types.js';
import { makeInspection as baseInspection } from '../helpers/inspection.js';

export { tempDir } from '../helpers/temp.js';

export const DAY_MS = 86_400_000;

export function storeConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  return { ...(Value.Default(StoreSection, {}) as StoreConfig), ...overrides };
}

/** An inspection (test/helpers/inspection.ts) with every optional field filled and unround numbers, so round-trips cover them all. */
export function makeInspection(overrides: Partial<Inspection> = {}): Inspection {
  return baseInspection({
    score: 0.8712345678901234,
    classes: [
      { label: 'crack', score: 0.87 },
      { label: 'finger', score: 0.1 },
    ],
    boxes: [{ x1: 1.5, y1: 2, x2: 30, y2: 40.25, label: 'crack', score: 0.87 }],
    timings: { queueMs: 1.5, preprocessMs: 2.25, inferenceMs: 20.125, postprocessMs: 0.5 },
    sourceFile: 'cell0020.png',
    imageShed: 'disk: data dir 2.0% free (100 kB of 5.0 MB)',
    ...overrides,
  });
}

/** A real JPEG of random pixels (random so its size does not shrink to nothing). */
export async function noiseJpeg(width = 48, height = 48, seed = 1): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return encodeJpeg({ width, height, pixelFormat: 'rgb24', data }, 80);
}
