// The inspection loop with a real camera, model and store: samples on demand while a frame
// is in flight, and what bus listeners may keep of a frame.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { FrameCopy, LentFrame } from '../../src/line/bus.js';
import type { Inspection } from '../../src/common/types.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

let app: App;
let cleanup: () => Promise<void>;
const seen: Inspection[] = [];

// The real model behind a gate: while the gate is shut, a frame waits in inference.
let gate: Promise<void> = Promise.resolve();
let openGate: () => void = () => {};
let inferStarts = 0;
function shutGate(): void {
  gate = new Promise((r) => (openGate = r));
}

beforeAll(async () => {
  const t = await tempDir('visor-pipeline-');
  cleanup = t.cleanup;
  const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
  const gated = delayedInferencer(real, () => {
    inferStarts++;
    return gate;
  });
  const config = parseConfig({
    cameras: [{ id: 'a', source: FIXTURES, fps: 10, loop: true, fullResolution: false }],
    model: { package: DEMO_MODEL },
    store: { dataDir: path.join(t.dir, 'data'), okSampleFraction: 0 },
    review: { enabled: false },
  });
  app = await createApp({ config, baseDir: t.dir, log: silentLogger(), inferencer: gated, extensions: [] });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await app.start();
  await until('a first inspection', () => seen.length > 0);
});

afterAll(async () => {
  openGate();
  gate = Promise.resolve();
  await app?.stop();
  await cleanup?.();
});

describe('samples on demand', () => {
  it('a request that times out while its frame is in flight leaves a newer request queued', async () => {
    shutGate();
    const blocked = inferStarts;
    await until('a frame waiting in inference', () => inferStarts > blocked);
    const first = app.pipeline.requestSample('a', { timeoutMs: 300 });
    const firstOutcome = first.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    // Let that frame go and hold the next one, which takes the first request with it.
    const release = openGate;
    shutGate();
    const taken = inferStarts;
    release();
    await until('the next frame in inference', () => inferStarts > taken);
    const second = app.pipeline.requestSample('a', { timeoutMs: 5000 });
    expect(await firstOutcome).toMatch(/no frame from camera a within 300 ms/);
    openGate();
    gate = Promise.resolve();
    const sample = await second;
    expect(sample).toMatchObject({ cameraId: 'a' });
    expect(app.store.get(sample.id)?.imagePath).toBeTruthy();
  });
});

describe('frames on the bus', () => {
  it('are lent for the call only: reading a kept frame throws, a copy keeps its pixels', async () => {
    let kept: LentFrame | undefined;
    let copy: FrameCopy | undefined;
    let pixels: Buffer | undefined;
    const off = app.bus.on('inspection', ({ frame }) => {
      if (kept) return;
      kept = frame;
      copy = frame.copy();
      pixels = Buffer.from(frame.data);
    });
    const from = seen.length;
    // More frames than the camera's pool holds, so the lent buffers have been reused.
    await until('ten more inspections', () => seen.length >= from + 10);
    off();
    expect(() => kept!.data).toThrow(/lent for the call only; keep frame.copy\(\)/);
    expect(() => kept!.copy()).toThrow(/lent for the call only/);
    expect(kept!.seq).toBe(copy!.seq);
    expect(copy!.data.equals(pixels!)).toBe(true);
    expect([copy!.width, copy!.height, copy!.data.length]).toEqual([kept!.width, kept!.height, kept!.width * kept!.height * 3]);
  });
});
