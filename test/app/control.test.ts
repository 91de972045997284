// Runtime control of a running line: thresholds, model swap, samples on demand.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError, ModelPackageError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import type { Inspection } from '../../src/common/types.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';

let dir: string;
let app: App;
const seen: Inspection[] = [];

async function nextInspections(n: number, timeoutMs = 20_000): Promise<Inspection[]> {
  const start = seen.length;
  await until(`${n} inspections`, () => seen.length >= start + n, timeoutMs, 20);
  return seen.slice(start, start + n);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-control-'));
  const config = parseConfig({
    cameras: [
      { id: 'a', source: FIXTURES, fps: 15 },
      { id: 'b', source: FIXTURES, fps: 15, thresholds: { defect: 5 } },
    ],
    model: { package: DEMO_MODEL },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
    review: { enabled: false },
  });
  app = await createApp({ config, baseDir: dir, log: silentLogger() });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await app.start();
  await nextInspections(2);
});

afterAll(async () => {
  await app?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('thresholds at runtime', () => {
  it('a model-wide change applies from the next frame to cameras without their own override', async () => {
    const changes: string[] = [];
    const off = app.bus.on('thresholds', (e) => changes.push(`${e.cameraId}:${e.thresholds.defect}:${e.source}`));
    const changedAt = Date.now();
    const result = app.control.setThresholds({ defect: 0.01, uncertainBand: 0 }, { source: 'test' });
    off();
    expect(result).toEqual({ a: { defect: 0.01, uncertainBand: 0 }, b: { defect: 5, uncertainBand: 0 } });
    expect(changes).toEqual(['a:0.01:test', 'b:5:test']);
    // A frame decided just before the change may still be on its way to the store.
    const next = (await nextInspections(8)).filter((i) => i.decidedAt >= changedAt);
    expect(next.length).toBeGreaterThanOrEqual(4);
    for (const i of next.filter((x) => x.cameraId === 'a')) expect(i).toMatchObject({ verdict: 'defect', thresholds: { defect: 0.01 } });
    for (const i of next.filter((x) => x.cameraId === 'b')) expect(i).toMatchObject({ verdict: 'ok', thresholds: { defect: 5 } });
  });

  it('rejects an invalid change and keeps the running thresholds', () => {
    const before = app.control.thresholds('a');
    expect(() => app.control.setThresholds({ defect: 'high' }, { source: 'test' })).toThrow(ConfigError);
    expect(() => app.control.setThresholds({ uncertainBand: -1 }, { cameraId: 'a', source: 'test' })).toThrow(/uncertainBand/);
    expect(() => app.control.setThresholds({ defect: 1 }, { cameraId: 'nope', source: 'test' })).toThrow(/no camera "nope"/);
    expect(app.control.thresholds('a')).toEqual(before);
  });
});

describe('samples on demand', () => {
  it('stores the next frame of a camera with its image, whatever its verdict', async () => {
    app.control.setThresholds({ defect: 1000 }, { source: 'test' });
    const sample = await app.pipeline.requestSample('a');
    expect(sample).toMatchObject({ cameraId: 'a', verdict: 'ok' });
    expect(app.store.get(sample.id)?.imagePath).toBeTruthy();
    await expect(app.pipeline.requestSample('nope')).rejects.toThrow(/no camera/);
  });
});

describe('model swap', () => {
  it('swaps a checked package in between frames, and refuses a corrupt one keeping the running model', async () => {
    const next = path.join(dir, 'model-v2');
    await cp(DEMO_MODEL, next, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(next, 'model.json'), 'utf8')) as { version: string };
    manifest.version = '0.2.0-test';
    await writeFile(path.join(next, 'model.json'), JSON.stringify(manifest));
    const models: string[] = [];
    app.bus.on('model', (e) => models.push(e.manifest.version));

    expect((await app.control.swapModel(next)).version).toBe('0.2.0-test');
    const swappedAt = Date.now();
    expect(models).toEqual(['0.2.0-test']);
    // A frame that ran on the old model just before the swap may still be on its way to the store.
    const after = (await nextInspections(6)).filter((i) => i.inferredAt >= swappedAt);
    expect(after.length).toBeGreaterThanOrEqual(4);
    expect(after.every((i) => i.model.version === '0.2.0-test')).toBe(true);

    const corrupt = path.join(dir, 'model-corrupt');
    await cp(DEMO_MODEL, corrupt, { recursive: true });
    await writeFile(path.join(corrupt, 'model.onnx'), 'not a model');
    await expect(app.control.swapModel(corrupt)).rejects.toThrow(ModelPackageError);
    expect(app.control.inferencer.manifest.version).toBe('0.2.0-test');
    const still = await nextInspections(2);
    expect(still.every((i) => i.model.version === '0.2.0-test')).toBe(true);
  });
});
