// The model in a worker thread: the same results as on the calling thread, bad packages refused
// the same way, and the caller's event loop free while the model works.
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelPackageError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { createInferencer, createWorkerInferencer, imageFromFile, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { fixtureImages } from '../helpers/media.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const log = silentLogger();
let direct: Inferencer;
let worker: Inferencer;

beforeAll(async () => {
  const pkg = await loadModelPackage(DEMO_MODEL);
  direct = await createInferencer({ pkg, threads: 1, log });
  worker = await createWorkerInferencer({ pkg, threads: 1, log });
}, 60_000);

afterAll(async () => {
  await direct?.close();
  await worker?.close();
});

describe('the worker inferencer', () => {
  it('scores images as the inferencer on the calling thread does, heat map included', async () => {
    expect(worker.manifest).toEqual(direct.manifest);
    expect(worker.geometry).toEqual(direct.geometry);
    for (const file of (await fixtureImages()).slice(0, 3)) {
      const image = await imageFromFile(file);
      const [a, b] = await Promise.all([direct.infer(image), worker.infer(image)]);
      expect(b.output.score).toBeCloseTo(a.output.score, 5);
      expect(b.output.heatMap!.data).toBeInstanceOf(Float32Array);
      expect(Array.from(b.output.heatMap!.data)).toEqual(Array.from(a.output.heatMap!.data));
    }
  });

  it('takes a second frame while it scores one, and gives each its own result', async () => {
    expect(worker.inFlight).toBe(2);
    const images = await Promise.all((await fixtureImages()).slice(0, 4).map((f) => imageFromFile(f)));
    const alone: number[] = [];
    for (const image of images) alone.push((await direct.infer(image)).output.score);
    // Two at a time, as the line hands them over: the answers come back to their own frames.
    const paired: number[] = [];
    for (let i = 0; i < images.length; i += 2) paired.push(...(await Promise.all([worker.infer(images[i]!), worker.infer(images[i + 1]!)])).map((r) => r.output.score));
    expect(new Set(alone.map((s) => s.toFixed(3))).size).toBe(images.length);
    paired.forEach((score, i) => expect(score).toBeCloseTo(alone[i]!, 5));
  });

  it('leaves the event loop free while the model runs', async () => {
    const image = await imageFromFile((await fixtureImages())[0]!);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await worker.infer(image);
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    // On the calling thread a run blocks timers for its whole length (one tick per run); here they keep firing.
    expect(ticks).toBeGreaterThan(Math.min(elapsed / 4, 30));
  });

  it('refuses a broken package with the same error, and calls after close', async () => {
    const { dir, cleanup } = await tempDir('visor-worker-');
    try {
      const broken = path.join(dir, 'broken');
      await cp(DEMO_MODEL, broken, { recursive: true });
      const pkg = await loadModelPackage(broken);
      await writeFile(pkg.onnxPath, 'not an onnx graph');
      await expect(createWorkerInferencer({ pkg, log })).rejects.toBeInstanceOf(ModelPackageError);
    } finally {
      await cleanup();
    }
    const pkg = await loadModelPackage(DEMO_MODEL);
    const short = await createWorkerInferencer({ pkg, threads: 1, log });
    await short.close();
    await expect(short.runRaw(new Float32Array(3))).rejects.toThrow(/closed/);
  });
});
