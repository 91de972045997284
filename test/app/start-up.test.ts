// The composition root's start-up: what it leaves behind when building fails, an extension
// that fails to start, and the log context every module adds to its lines.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createIotHubExtensions } from '../../src/app.js';
import type { EventsExtension } from '../../src/events/index.js';
import { parseConfig } from '../../src/config/index.js';
import { createInferencer, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { ConfigError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { captureLogger } from '../events/helpers.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-start-up-'));
});
afterAll(async () => {
  await cleanup?.();
});

describe('a start-up that fails after the store opened', () => {
  it('closes the database and the model session before the error reaches the caller', async () => {
    const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    let closed = 0;
    const inferencer: Inferencer = {
      ...real,
      manifest: real.manifest,
      inputSize: real.inputSize,
      close: async () => {
        closed++;
        await real.close();
      },
    };
    const dataDir = path.join(dir, 'failed-data');
    const config = parseConfig({
      cameras: [
        { id: 'a', source: FIXTURES },
        { id: 'b', source: FIXTURES },
      ],
      model: { package: DEMO_MODEL },
      store: { dataDir },
      review: { enabled: false },
    });
    // A Config built in code skips the schema's checks; createCamera refuses a region beyond the right edge.
    config.cameras[1]!.roi = { x: 1, y: 0, width: 0.5, height: 1 };
    const failed = createApp({ config, baseDir: dir, log: silentLogger(), inferencer, extensions: [] });
    await expect(failed).rejects.toThrow(ConfigError);
    await expect(failed).rejects.toThrow(/cameras\[b\]\.roi/);
    // SQLite removes the write-ahead log when the last connection closes.
    const files = await readdir(dataDir);
    expect(files).toContain('visor.db');
    expect(files.filter((f) => f.startsWith('visor.db-'))).toEqual([]);
    expect(closed).toBe(1);
  });
});

describe('log lines', () => {
  it('name their module and camera once', async () => {
    const { log, lines } = captureLogger('debug');
    const config = parseConfig({
      cameras: [{ id: 'a', source: FIXTURES, fps: 10, fullResolution: false }],
      model: { package: DEMO_MODEL },
      store: { dataDir: path.join(dir, 'log-data'), okSampleFraction: 0 },
      review: { enabled: false },
    });
    const app = await createApp({ config, baseDir: dir, log, extensions: [] });
    await app.start();
    try {
      await until('a capture line and an inference line', () => lines.some((l) => l.includes('"module":"capture"')) && lines.some((l) => l.includes('"module":"inference"')));
      await until('an inspection stored', () => lines.some((l) => l.includes('inspection stored')));
      // A model swapped at runtime logs through the same loggers.
      await app.control.swapModel(app.control.modelDir);
      expect(lines.filter((l) => l.includes('"module":"inference"') && l.includes('model loaded'))).toHaveLength(2);
    } finally {
      await app.stop();
    }
    // JSON.parse keeps the last of two equal keys, so count them in the text.
    const count = (line: string, key: string) => line.split(`"${key}":`).length - 1;
    const repeated = lines.filter((l) => count(l, 'module') > 1 || count(l, 'cameraId') > 1);
    expect(repeated).toEqual([]);
    expect(lines.filter((l) => l.includes('"module":"capture"')).every((l) => l.includes('"cameraId":"a"'))).toBe(true);
  });
});

describe('an extension that fails to start', () => {
  it('is logged and the line runs with the others', async () => {
    const { log, lines } = captureLogger('info');
    const config = parseConfig({
      cameras: [{ id: 'a', source: FIXTURES, fps: 10, fullResolution: false }],
      model: { package: DEMO_MODEL, thresholds: { defect: 0 } },
      store: { dataDir: path.join(dir, 'broken-data'), okSampleFraction: 0 },
      review: { enabled: false },
    });
    let stopped = false;
    const broken = () => ({
      name: 'broken',
      start: async () => {
        throw new Error('cannot start');
      },
      stop: async () => {
        stopped = true;
      },
    });
    const app = await createApp({ config, baseDir: dir, log, extensions: [broken, createIotHubExtensions] });
    await app.start();
    try {
      const events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
      // No hub configured: defect events go to the local sink.
      await until('an event in the local sink', async () => (await readFile(events.sinkFile!, 'utf8').catch(() => '')).includes('"eventType":"defect"'));
    } finally {
      await app.stop();
    }
    const failed = lines.map((l) => JSON.parse(l) as { msg: string; extension?: string; err?: { message: string } }).find((l) => l.msg.startsWith('extension failed to start'));
    expect(failed).toMatchObject({ extension: 'broken', err: { message: 'cannot start' } });
    // Never started, so never stopped.
    expect(stopped).toBe(false);
  });
});
