/// <reference lib="dom" />
// The page of recent inspections, in a real browser.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { newId } from '../../src/ids.js';
import { silentLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { buildReviewServer } from '../../src/review/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { CameraStatus, Inspection, Verdict } from '../../src/types.js';
import { launchBrowser } from '../helpers/browser.js';
import { FIXTURES } from '../helpers/paths.js';

let dir: string;
let store: Store;
let server: FastifyInstance;
let url: string;
let browser: Browser;
const cameras: CameraStatus[] = [
  { cameraId: 'cells', state: 'online', framesIn: 42, framesDropped: 3, framesCorrupt: 0, reconnects: 0 },
  { cameraId: 'dock', state: 'reconnecting', lastError: 'connection refused', framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 2 },
];

function inspection(verdict: Verdict, score: number, seq: number): Inspection {
  const t = Date.now() - 1000 + seq;
  return {
    id: newId(t),
    cameraId: 'cells',
    frameSeq: seq,
    capturedAt: t,
    inferredAt: t + 5,
    decidedAt: t + 6,
    verdict,
    score,
    model: { name: 'elpv-cells', version: '0.1.0', task: 'anomaly' },
    thresholds: { defect: 1, uncertainBand: 0.2 },
    timings: { queueMs: 1, preprocessMs: 1, inferenceMs: 3, postprocessMs: 1 },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-page-'));
  store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
  const jpeg = await import('sharp').then(({ default: sharp }) => sharp(path.join(FIXTURES, 'cell0020.png')).jpeg().toBuffer());
  store.save(inspection('ok', 0.4, 1));
  store.save(inspection('defect', 1.7, 2), { image: jpeg });
  store.save(inspection('uncertain', 0.9, 3), { image: jpeg });
  server = buildReviewServer({
    store,
    cameras: () => cameras,
    model: () => ({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => cameras, defaultMetrics: false }),
    log: silentLogger(),
  });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('review page', () => {
  it('shows recent inspections newest first, with their images and the camera states', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('figure.inspection');
    const figures = await page.$$eval('figure.inspection', (els) => els.map((e) => ({ cls: e.className, text: e.textContent ?? '' })));
    expect(figures.map((f) => f.cls)).toEqual(['inspection uncertain', 'inspection defect', 'inspection ok']);
    expect(figures[1]!.text).toMatch(/defect\s*1\.700/i);
    expect(figures[2]!.text).toContain('no image stored');
    // Images really load (the browser decoded them).
    await page.waitForFunction(() => Array.from(document.querySelectorAll("figure img")).every((i) => (i as HTMLImageElement).naturalWidth > 0));
    const widths = await page.$$eval('figure img', (imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    expect(widths).toEqual([300, 300]);
    expect(await page.textContent('[data-camera="dock"]')).toContain('reconnecting');
    expect(await page.textContent('#counts')).toBe('ok 1 · uncertain 1 · defect 1');
    await page.close();
  });

  it('a new inspection appears without reloading', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('figure.inspection');
    const fresh = store.save(inspection('defect', 2.5, 4));
    await page.waitForSelector(`figure[data-id="${fresh.id}"]`, { timeout: 10_000 });
    await page.close();
  });

  it('serves the page with a content security policy and never an image outside the data folder', async () => {
    const res = await fetch(url);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(`${url}/api/inspections/..%2F..%2Fvisor.db/image`)).status).toBe(400);
    await expect(readFile(path.join(dir, 'visor.db'))).resolves.toBeTruthy();
  });
});
