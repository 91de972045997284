// Triggered frames first, with real folder cameras, the demo model and a store on disk: a
// camera a part waits for gets the model's next turn with its first frame captured after the
// trigger, ahead of the cameras already waiting theirs, and its frames from before the
// trigger take no turns. The model is stepped one run at a time, so turns are counted, not timed.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { Frame, Inspection } from '../../src/common/types.js';
import { createInferencer, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { createBus } from '../../src/line/bus.js';
import { createMetrics } from '../../src/line/metrics.js';
import { createPipeline, type Pipeline } from '../../src/line/pipeline.js';
import { createSamplingPolicy } from '../../src/line/sampling.js';
import { openStore, type Store } from '../../src/store/index.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const log = silentLogger();
let cameras: Camera[];
let pipeline: Pipeline;
let store: Store;
let cleanup: () => Promise<void>;
const seen: Inspection[] = [];

// The real model, one run per step(): the frames that asked for it, in the order they got it.
const runs: Array<{ cameraId: string; capturedAt: number; seq: number }> = [];
let permits = 0;
let waiting: Array<() => void> = [];
let free = true;
function step(): void {
  const next = waiting.shift();
  if (next) next();
  else permits++;
}

beforeAll(async () => {
  const t = await tempDir('visor-triggered-');
  cleanup = t.cleanup;
  const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), threads: 1, log });
  const stepped: Inferencer = {
    ...real,
    infer: async (image) => {
      const frame = image as Frame;
      runs.push({ cameraId: frame.cameraId, capturedAt: frame.capturedAt, seq: frame.seq });
      if (!free) {
        if (permits > 0) permits--;
        else await new Promise<void>((r) => waiting.push(r));
      }
      return real.infer(image);
    },
  };
  const config = parseConfig({
    cameras: ['a', 'b', 'c'].map((id) => ({ id, source: FIXTURES, fps: 20, loop: true, fullResolution: false })),
    model: { package: DEMO_MODEL },
    store: { dataDir: path.join(t.dir, 'data'), okSampleFraction: 0 },
  });
  cameras = config.cameras.map((c) => createCamera({ config: c, inferenceSize: real.geometry.frame, resize: real.geometry.resize, baseDir: t.dir, log }));
  store = openStore({ config: config.store, dataDir: path.join(t.dir, 'data'), log });
  const metrics = createMetrics({ cameras: () => cameras.map((c) => c.status()), defaultMetrics: false });
  const bus = createBus(log);
  pipeline = createPipeline({
    cameras,
    inferencer: () => stepped,
    thresholds: () => real.manifest.thresholds,
    roi: () => undefined,
    store,
    sampling: createSamplingPolicy({ config, log, registry: metrics.registry }),
    jpegQuality: 80,
    metrics,
    bus,
    log,
  });
  bus.on('inspection', ({ inspection }) => seen.push(inspection));
  for (const c of cameras) c.start();
  pipeline.start();
  await until('every camera inspected', () => new Set(seen.map((i) => i.cameraId)).size === 3);
});

afterAll(async () => {
  free = true;
  for (const w of waiting.splice(0)) w();
  await Promise.all(cameras.map((c) => c.stop()));
  await pipeline.stopped();
  store.close();
  await cleanup();
});

describe('a triggered camera', () => {
  it("takes the model's next turn with its first frame captured after the trigger, ahead of the cameras waiting theirs", async () => {
    // Hold the model: one frame in inference, the other two cameras waiting their turns.
    free = false;
    await until('a frame held in the model', () => waiting.length === 1);
    const held = runs.length;
    const inFlight = runs.at(-1)!.cameraId;
    // The triggered camera is one that is waiting in line, not the one in the model.
    const triggered = ['a', 'b', 'c'].find((id) => id !== inFlight)!;
    const from = Date.now();
    const withdraw = pipeline.prioritize([triggered], from);
    const camera = cameras.find((c) => c.id === triggered)!;
    await until('a frame of the triggered camera captured after the trigger', () => (camera.status().lastFrameAt ?? 0) >= from);
    const storedBefore = seen.length;

    // Let the frame in the model go; the next run is the next turn.
    step();
    await until('the next turn', () => runs.length > held);
    expect(runs[held]).toMatchObject({ cameraId: triggered });
    expect(runs[held]!.capturedAt).toBeGreaterThanOrEqual(from);

    // Its verdict is stored from that frame, before any other camera's next frame is inspected.
    step();
    // Its frames inferred before the trigger may still be on their way to the store (kept images are written off the main thread).
    const view = await until('the triggered camera inspected', () => seen.slice(storedBefore).find((i) => i.cameraId === triggered && i.capturedAt >= from));
    expect(view.frameSeq).toBe(runs[held]!.seq);
    expect(view.capturedAt).toBeGreaterThanOrEqual(from);
    // Answered: the camera is back to its ordinary turns, and no frame of it from before the trigger took one.
    const ofTriggered = runs.slice(held).filter((r) => r.cameraId === triggered);
    expect(ofTriggered.every((r) => r.capturedAt >= from)).toBe(true);
    withdraw();
    free = true;
    for (const w of waiting.splice(0)) w();
    await until('the other cameras inspected again', () => new Set(seen.slice(storedBefore).map((i) => i.cameraId)).size === 3);
  });

  it('does not take turns with frames from before a trigger in the future, and does after it is withdrawn', async () => {
    const withdraw = pipeline.prioritize(['a'], Date.now() + 60_000);
    const from = runs.length;
    await until('the other cameras inspected a few times', () => runs.slice(from).filter((r) => r.cameraId !== 'a').length >= 6);
    expect(runs.slice(from).filter((r) => r.cameraId === 'a')).toHaveLength(0);
    expect(cameras.find((c) => c.id === 'a')!.status().framesDropped).toBeGreaterThan(0);
    withdraw();
    await until('camera a inspected again', () => runs.slice(from).some((r) => r.cameraId === 'a'));
  });
});
