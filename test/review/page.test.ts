/// <reference lib="dom" />
// The review page in a real browser, over a seeded store: sign-in first, then the queue.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/line/bus.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createUserStore } from '../../src/review/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { CameraStatus, Inspection, Verdict } from '../../src/common/types.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeInspection } from '../helpers/inspection.js';
import { FIXTURES } from '../helpers/paths.js';
import { testReviewServer } from './server-helpers.js';
import { ensureUiBuilt } from './ui-build.js';

let dir: string;
let store: Store;
let server: FastifyInstance;
let url: string;
let browser: Browser;
const bus = createBus(silentLogger());
const cameras: CameraStatus[] = [
  { cameraId: 'cells', state: 'online', framesIn: 42, framesDropped: 3, framesCorrupt: 0, reconnects: 0 },
  { cameraId: 'dock', state: 'reconnecting', lastError: 'connection refused', framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 2 },
];

function inspection(verdict: Verdict, score: number, seq: number): Inspection {
  return makeInspection({ verdict, score, frameSeq: seq, capturedAt: Date.now() - 1000 + seq });
}

beforeAll(async () => {
  const uiDir = await ensureUiBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-page-'));
  store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
  const jpeg = await import('sharp').then(({ default: sharp }) => sharp(path.join(FIXTURES, 'cell0020.png')).jpeg().toBuffer());
  store.save(inspection('ok', 0.4, 1));
  store.save(inspection('defect', 1.7, 2), { image: jpeg });
  store.save(inspection('uncertain', 0.9, 3), { image: jpeg });
  await createUserStore({ db: store.db }).add({ name: 'olga', role: 'operator', password: 'olga-password' });
  server = testReviewServer({ store, bus, cameras, uiDir });
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
  it('shows only a sign-in form to a visitor, and no images', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('form.login');
    expect(await page.$$('img')).toHaveLength(0);
    expect(await page.textContent('form.login')).not.toContain('first admin');
    await page.close();
  });

  it('after sign-in, shows flagged inspections newest first with their images, and new ones without reloading', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.fill('input[name=name]', 'olga');
    await page.fill('input[name=password]', 'olga-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('figure.inspection');
    const figures = await page.$$eval('figure.inspection', (els) => els.map((e) => ({ cls: e.className, text: e.textContent ?? '' })));
    expect(figures.map((f) => f.cls.split(' ').slice(0, 3).join(' '))).toEqual(['card inspection uncertain', 'card inspection defect']);
    expect(figures[1]!.text).toMatch(/defect\s*1\.700/i);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('figure img')).every((i) => (i as HTMLImageElement).naturalWidth > 0));
    expect(await page.$$eval('figure img', (imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth))).toEqual([300, 300]);

    const fresh = store.save(inspection('defect', 2.5, 4));
    bus.emit('inspection', { inspection: fresh, frame: undefined as never, output: { score: 2.5 }, storedAt: Date.now(), requested: false });
    await page.waitForSelector(`figure[data-id="${fresh.id}"]`, { timeout: 10_000 });
    await page.goto(`${url}/#/live`);
    await expect.poll(() => page.textContent('[data-camera="dock"] .state')).toBe('reconnecting');
    await page.close();
  });

  it('serves the page with a content security policy and never an image outside the data folder', async () => {
    const res = await fetch(url);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    // Signed in, so the requests below get past auth to the route's own path handling.
    const login = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'olga', password: 'olga-password' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const flagged = store.list({ verdict: 'defect' }).find((i) => i.imagePath)!;
    const image = await fetch(`${url}/api/inspections/${flagged.id}/image`, { headers: { cookie } });
    expect([image.status, image.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    for (const traversal of [`${url}/api/inspections/..%2F..%2Fvisor.db/image`, `${url}/api/inspections/${flagged.id}/..%2F..%2F..%2Fvisor.db`]) {
      const refused = await fetch(traversal, { headers: { cookie } });
      const body = await refused.text();
      expect(refused.status, traversal).toBe(400);
      expect(body).toMatch(/must match|must be equal/);
      expect(body).not.toContain('SQLite format');
    }
  });
});

describe('first admin on a fresh install', () => {
  it('asks for the setup code Visor printed, refuses a wrong one, and signs the new admin in', async () => {
    const freshDir = await mkdtemp(path.join(os.tmpdir(), 'visor-page-setup-'));
    const fresh = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: freshDir, log: silentLogger() });
    const printed: string[] = [];
    const setupServer = testReviewServer({
      store: fresh,
      bus: createBus(silentLogger()),
      cameras,
      uiDir: await ensureUiBuilt(),
      newSetupCode: () => 'PAGE-TEST-CODE',
      announce: (line) => printed.push(line),
    });
    const page = await browser.newPage();
    try {
      const setupUrl = await setupServer.listen({ host: '127.0.0.1', port: 0 });
      expect(printed.join('')).toContain('PAGE-TEST-CODE');
      await page.goto(setupUrl);
      await page.waitForSelector('input[name=code]');
      expect(await page.textContent('form.login')).toContain('setup code');
      await page.fill('input[name=password]', 'first-admin-pw');
      await page.fill('input[name=again]', 'first-admin-pw');
      await page.fill('input[name=code]', 'WRONG-CODE');
      await page.click('button[type=submit]');
      await expect.poll(() => page.textContent('.error'), { timeout: 10_000 }).toContain('wrong setup code');
      expect(fresh.db.prepare('SELECT COUNT(*) FROM users').pluck().get()).toBe(0);
      await page.fill('input[name=code]', 'page-test-code');
      await page.click('button[type=submit]');
      await page.waitForSelector('header.nav');
      expect(await page.textContent('.who')).toBe('admin · admin');
    } finally {
      await page.close();
      await setupServer.close();
      fresh.close();
      await rm(freshDir, { recursive: true, force: true });
    }
  });
});
