// The line under overload, with real folder cameras, the demo model and a store on disk:
// cameras share the model fairly, and when kept images cannot be encoded as fast as they
// come, ok images are shed first (counted, verdicts still stored) while every defect keeps its
// image; health says the line is saturated.
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createInferencer, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { createBus } from '../../src/line/bus.js';
import { createMetrics } from '../../src/line/metrics.js';
import { createPipeline, type Pipeline, type PipelineDeps } from '../../src/line/pipeline.js';
import { createSamplingPolicy } from '../../src/line/sampling.js';
import { encodeJpeg, openStore, type Store } from '../../src/store/index.js';
import type { Inspection } from '../../src/common/types.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const log = silentLogger();
let model: Inferencer;
let thresholds: { defect: number; uncertainBand: number };
let running: { cameras: Camera[]; pipeline: Pipeline; store: Store; cleanup: () => Promise<void> } | undefined;

beforeAll(async () => {
  model = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), threads: 1, log });
  // Of the 12 fixture cells: 4 defects, 4 uncertain, 4 ok.
  thresholds = await thresholdsForMix(4, 4);
});

afterEach(async () => {
  if (!running) return;
  await Promise.all(running.cameras.map((c) => c.stop()));
  await running.pipeline.stopped();
  running.store.close();
  await running.cleanup();
  running = undefined;
});

async function line(options: { cameras: number; fps: number; inferencer: Inferencer; encode?: PipelineDeps['encode'] }) {
  const { dir, cleanup } = await tempDir('visor-overload-');
  const config = parseConfig({
    cameras: Array.from({ length: options.cameras }, (_, i) => ({ id: `cam${i + 1}`, source: FIXTURES, fps: options.fps, loop: true, fullResolution: false })),
    model: { package: DEMO_MODEL, thresholds },
    // Every ok image is wanted: what is not kept was shed.
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 1 },
  });
  const cameras = config.cameras.map((c) => createCamera({ config: c, inferenceSize: model.geometry.frame, resize: model.geometry.resize, baseDir: dir, log }));
  const store = openStore({ config: config.store, dataDir: path.join(dir, 'data'), log });
  const metrics = createMetrics({ cameras: () => cameras.map((c) => c.status()), defaultMetrics: false });
  const sampling = createSamplingPolicy({ config, log, registry: metrics.registry });
  const bus = createBus(log);
  const pipeline = createPipeline({
    cameras,
    inferencer: () => options.inferencer,
    thresholds: () => thresholds,
    roi: () => undefined,
    store,
    sampling,
    jpegQuality: 80,
    metrics,
    bus,
    log,
    ...(options.encode ? { encode: options.encode } : {}),
  });
  sampling.addPressure(pipeline.saturation);
  const seen: Inspection[] = [];
  bus.on('inspection', ({ inspection }) => seen.push(inspection));
  running = { cameras, pipeline, store, cleanup };
  for (const c of cameras) c.start();
  pipeline.start();
  return { cameras, pipeline, store, metrics, seen };
}

describe('a line that cannot keep up', () => {
  it('sheds ok images first while every defect keeps its image, counts what it shed, and shows saturation', async () => {
    // The encoders stall until the gate opens: kept images pile up behind them.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { pipeline, store, metrics, seen } = await line({
      cameras: 3,
      fps: 20,
      inferencer: model,
      encode: async (image, quality) => {
        await gate;
        return encodeJpeg(image, quality);
      },
    });
    await until('the line to shed ok images', () => pipeline.saturation.level() !== 'none', 30_000);
    const health = pipeline.saturation.health();
    expect(health).toMatchObject({ ok: true, saturated: true });
    expect(['ok', 'uncertain']).toContain(health.shedLevel);
    const counter = async () => (await metrics.registry.getSingleMetric('visor_images_shed_total')!.get()).values;
    const counted = async (verdict: string) => (await counter()).filter((v) => v.labels.verdict === verdict && v.labels.source === 'line').reduce((s, v) => s + v.value, 0);
    // Ok frames keep going through the model while their images are shed; wait for a few of them.
    const deadline = Date.now() + 30_000;
    while ((await counted('ok')) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await counted('ok')).toBeGreaterThanOrEqual(2);
    open();
    await until('the shedding to end', () => pipeline.saturation.level() === 'none', 30_000);
    // Stop, and let every frame in flight be stored.
    await Promise.all(running!.cameras.map((c) => c.stop()));
    await pipeline.stopped();
    expect(pipeline.saturation.pendingImages).toBe(0);

    const stored = seen.map((i) => store.get(i.id)!);
    const defects = stored.filter((i) => i.verdict === 'defect');
    expect(defects.length).toBeGreaterThan(0);
    expect(defects.filter((i) => i.imagePath === undefined)).toEqual([]);
    const shedOk = stored.filter((i) => i.verdict === 'ok' && i.imagePath === undefined).length;
    expect(shedOk).toBeGreaterThanOrEqual(2);
    // Every ok frame stored without its image was shed and counted (okSampleFraction is 1).
    expect(await counted('ok')).toBe(shedOk);
    expect(await counted('defect')).toBe(0);
  });

  it('hands a model that takes two frames at once (one in a worker) the next camera\'s frame while it scores one, never a camera\'s second', async () => {
    for (const inFlight of [undefined, 2]) {
      let active = 0;
      let most = 0;
      const busy = new Set<string>();
      let sameCamera = 0;
      const slow: Inferencer = {
        ...model,
        ...(inFlight ? { inFlight } : {}),
        infer: async (image) => {
          const camera = (image as { cameraId?: string }).cameraId ?? '';
          if (busy.has(camera)) sameCamera++;
          busy.add(camera);
          most = Math.max(most, ++active);
          try {
            await new Promise((r) => setTimeout(r, 30));
            return await model.infer(image);
          } finally {
            active--;
            busy.delete(camera);
          }
        },
      };
      const { cameras, pipeline, seen } = await line({ cameras: 3, fps: 20, inferencer: slow });
      await until('frames from every camera', () => new Set(seen.map((i) => i.cameraId)).size === 3 && seen.length >= 20, 30_000);
      await Promise.all(cameras.map((c) => c.stop()));
      await pipeline.stopped();
      running!.store.close();
      await running!.cleanup();
      running = undefined;
      expect(most, `inFlight ${inFlight}`).toBe(inFlight ?? 1);
      expect(sameCamera).toBe(0);
      // Each camera's frames are stored in the order they were taken.
      for (const c of cameras) {
        const seqs = seen.filter((i) => i.cameraId === c.id).map((i) => i.frameSeq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    }
  });

  it('inspects every camera at a fair share of a slow model and counts the frames it could not take', async () => {
    // About 40 ms a frame against 3 cameras at 20 fps: the model can take a third of the frames.
    const slow = delayedInferencer(model, () => new Promise((r) => setTimeout(r, 40)));
    const { cameras, seen } = await line({ cameras: 3, fps: 20, inferencer: slow });
    await until('every camera inspected', () => new Set(seen.map((i) => i.cameraId)).size === 3, 30_000);
    const from = seen.length;
    const dropped0 = cameras.map((c) => c.status().framesDropped);
    await new Promise((r) => setTimeout(r, 4000));
    const window = seen.slice(from);
    const per = cameras.map((c) => window.filter((i) => i.cameraId === c.id).length);
    const mean = per.reduce((a, b) => a + b, 0) / per.length;
    expect(mean).toBeGreaterThan(5);
    for (const n of per) expect(n, `per camera ${per}`).toBeGreaterThanOrEqual(Math.floor(mean * 0.8));
    cameras.forEach((c, i) => expect(c.status().framesDropped).toBeGreaterThan(dropped0[i]!));
  });
});
