import fs from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { StoreSection, type StoreConfig } from '../../src/config/schema.js';
import { encodeJpeg, imageRelPath } from '../../src/store/images.js';
import type { Store } from '../../src/store/index.js';
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

/**
 * Fills a store with `count` inspections whose images are on disk, the way the line leaves a
 * data dir after a long run: rows through the store's own save(), files at the store's own
 * paths, but without a file or WAL fsync per image (so 100,000 take seconds, not an hour).
 * The store's running total of image bytes learns of them at the next retention pass (or open).
 * Captured times run from `from` in steps of `stepMs`, round-robin over `cameras`. Returns
 * the images' relative paths, oldest first.
 */
export function fillStore(store: Store, opts: { count: number; image: Buffer; from: number; stepMs: number; cameras?: string[] }): string[] {
  const cameras = opts.cameras ?? ['cam-1', 'cam-2', 'cam-3', 'cam-4', 'cam-5', 'cam-6'];
  const paths: string[] = [];
  const attach = store.db.prepare<[string, number, string]>('UPDATE inspections SET image_path = ?, image_bytes = ? WHERE id = ?');
  const synchronous = store.db.pragma('synchronous', { simple: true });
  store.db.pragma('synchronous = OFF');
  const made = new Set<string>();
  const CHUNK = 5000;
  try {
    for (let start = 0; start < opts.count; start += CHUNK) {
      store.db.transaction(() => {
        for (let i = start; i < Math.min(opts.count, start + CHUNK); i++) {
          const capturedAt = opts.from + i * opts.stepMs;
          const inspection = store.save(baseInspection({ capturedAt, cameraId: cameras[i % cameras.length]!, frameSeq: i }));
          const rel = imageRelPath(inspection.cameraId, capturedAt, inspection.id, 'image');
          const abs = path.join(store.dataDir, ...rel.split('/'));
          const dir = path.dirname(abs);
          if (!made.has(dir)) fs.mkdirSync(dir, { recursive: true });
          made.add(dir);
          fs.writeFileSync(abs, opts.image);
          attach.run(rel, opts.image.length, inspection.id);
          paths.push(rel);
        }
      })();
    }
  } finally {
    store.db.pragma(`synchronous = ${synchronous}`);
  }
  return paths;
}
