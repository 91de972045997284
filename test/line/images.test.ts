// Kept images of an ffmpeg camera, with a real video file, the demo model and a store on
// disk: the stored JPEG is the full-resolution one ffmpeg delivered with the frame, byte for
// byte; the main process encodes nothing.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { Inspection } from '../../src/common/types.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { createBus } from '../../src/line/bus.js';
import { createMetrics } from '../../src/line/metrics.js';
import { createPipeline, type Pipeline } from '../../src/line/pipeline.js';
import { createSamplingPolicy } from '../../src/line/sampling.js';
import { openStore, type Store } from '../../src/store/index.js';
import { makeClip } from '../capture/helpers.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const log = silentLogger();
let camera: Camera;
let pipeline: Pipeline;
let store: Store;
let cleanup: () => Promise<void>;
let encodes = 0;
const seen: Array<{ inspection: Inspection; jpeg?: Buffer; format?: string }> = [];

beforeAll(async () => {
  const t = await tempDir('visor-line-images-');
  cleanup = t.cleanup;
  const clip = await makeClip(t.dir);
  const model = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), threads: 1, log });
  const config = parseConfig({
    cameras: [{ id: 'video', source: clip, fps: 10, loop: true, fullResolution: true }],
    model: { package: DEMO_MODEL },
    // Every frame kept: each one's image is stored.
    store: { dataDir: path.join(t.dir, 'data'), okSampleFraction: 1 },
  });
  camera = createCamera({ config: config.cameras[0]!, inferenceSize: model.geometry.frame, resize: model.geometry.resize, baseDir: t.dir, log, jpegQuality: config.store.jpegQuality });
  store = openStore({ config: config.store, dataDir: path.join(t.dir, 'data'), log });
  const metrics = createMetrics({ cameras: () => [camera.status()], defaultMetrics: false });
  const bus = createBus(log);
  pipeline = createPipeline({
    cameras: [camera],
    inferencer: () => model,
    thresholds: () => model.manifest.thresholds,
    roi: () => undefined,
    store,
    sampling: createSamplingPolicy({ config, log, registry: metrics.registry }),
    jpegQuality: config.store.jpegQuality,
    encode: async () => {
      encodes++;
      throw new Error('the main process encoded a frame ffmpeg had encoded already');
    },
    metrics,
    bus,
    log,
  });
  bus.on('inspection', ({ inspection, frame }) =>
    seen.push({ inspection, ...(frame.full ? { jpeg: Buffer.from(frame.full.data), format: frame.full.pixelFormat } : {}) }),
  );
  camera.start();
  pipeline.start();
});

afterAll(async () => {
  await camera?.stop();
  await pipeline?.stopped();
  store?.close();
  await cleanup?.();
});

describe('an ffmpeg camera with full resolution', () => {
  it("stores each kept frame's full-resolution JPEG as ffmpeg delivered it, without encoding it again", async () => {
    await until('five inspections', () => seen.length >= 5);
    expect(encodes).toBe(0);
    for (const { inspection, jpeg, format } of seen.slice(0, 5)) {
      expect(format).toBe('jpeg');
      const stored = store.get(inspection.id)!;
      expect(stored.imagePath).toBeTruthy();
      const file = readFileSync(store.imageFile(stored.imagePath!));
      expect(file.equals(jpeg!)).toBe(true);
      expect(await sharp(file).metadata()).toMatchObject({ format: 'jpeg', width: 300, height: 300 });
    }
  });
});
