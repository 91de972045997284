/// <reference lib="dom" />
// The review UI in headless Chromium against a running line: the demo model scoring the
// fixture cells from a folder camera, thresholds set so that some are defects and some uncertain.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createUserStore } from '../../src/review/index.js';
import type { Inspection } from '../../src/common/types.js';
import { launchBrowser } from '../helpers/browser.js';
import { DEMO_MODEL, FIXTURES, REPO } from '../helpers/paths.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { ensureUiBuilt } from './ui-build.js';
import { until } from '../helpers/wait.js';

const ARTIFACTS = path.join(REPO, 'test/review/artifacts');
const round = (x: number) => Number(x.toFixed(4));
// Set from the model's own scores of the 12 fixture cells: 4 defects, 4 uncertain, 4 ok.
let THRESHOLDS: { defect: number; uncertainBand: number };
// A stricter threshold for the Settings test: only the 2 highest-scoring cells stay defects.
let STRICTER: number;

let dir: string;
let app: App;
let browser: Browser;
let page: Page;
const seen: Inspection[] = [];

beforeAll(async () => {
  const mix = await thresholdsForMix(4, 4);
  THRESHOLDS = { defect: round(mix.defect), uncertainBand: round(mix.uncertainBand) };
  STRICTER = round((await thresholdsForMix(2, 0)).defect);
  await ensureUiBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-review-e2e-'));
  const config = parseConfig({
    cameras: [{ id: 'cells', source: FIXTURES, fps: 3, loop: true }],
    model: { package: DEMO_MODEL, thresholds: THRESHOLDS },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 1 },
    review: { port: 0 },
  });
  app = await createApp({ config, baseDir: dir, log: silentLogger() });
  await createUserStore({ db: app.store.db }).add({ name: 'quinn', role: 'engineer', password: 'line-3-quality' });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await app.start();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});


const currentId = () => page.getAttribute('figure.card.current', 'data-id');
// How long a poll waits for a request and a render: vitest's default 1 s is too short on a loaded 2-core machine.
const SETTLE = { timeout: 10_000 };

describe('review UI on a running line', () => {
  it('asks for sign-in, refuses a wrong password, and signs in', async () => {
    await page.goto(app.reviewUrl!);
    await page.fill('input[name=name]', 'quinn');
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('.error'), SETTLE).toContain('wrong user name or password');
    await page.fill('input[name=password]', 'line-3-quality');
    await page.click('button[type=submit]');
    await page.waitForSelector('header.nav');
    expect(await page.textContent('.who')).toBe('quinn · engineer');
  });

  it('shows the live line with the overlay, camera state and fps', async () => {
    await page.goto(`${app.reviewUrl}/#/live`);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('figure.camera img');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    expect(await page.textContent('figure.camera .state')).toBe('online');
    await expect.poll(async () => page.textContent('figure.camera .meta'), { timeout: 10_000 }).toMatch(/^[1-9][\d.]* inspected\/s/);
    // The live frame changes without reloading.
    const first = await page.getAttribute('figure.camera img', 'src');
    await expect.poll(() => page.getAttribute('figure.camera img', 'src'), { timeout: 10_000 }).not.toBe(first);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live.png') });
  });

  it('shows a new defect in the queue without reloading', async () => {
    await page.goto(`${app.reviewUrl}/#/queue`);
    await page.waitForSelector('figure.card');
    const loadedAt = seen.length;
    const fresh = await until('a new defect', () => seen.slice(loadedAt).find((i) => i.verdict === 'defect'));
    await page.waitForSelector(`figure.card[data-id="${fresh.id}"]`, { timeout: 10_000 });
    const verdicts = await page.$$eval('figure.card', (els) => els.map((e) => e.classList.contains('ok')));
    expect(verdicts.every((isOk) => !isOk)).toBe(true);
    await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('figure.card img')).slice(0, 8).every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: path.join(ARTIFACTS, 'queue.png') });
  });

  it('stores a verdict given by key press, with the user, and moves to the next item', async () => {
    const target = (await currentId())!;
    await page.keyboard.press('d');
    await expect.poll(() => page.getAttribute(`figure.card[data-id="${target}"] .review`, 'class'), SETTLE).toContain('confirmed');
    // The next item (the one after it in the list, which new frames may have pushed down) is now current.
    const after = await page.$$eval('figure.card', (els) => {
      const ids = els.map((e) => e.getAttribute('data-id'));
      const current = els.find((e) => e.classList.contains('current'))?.getAttribute('data-id');
      return { ids, current };
    });
    expect(after.current).toBe(after.ids[after.ids.indexOf(target) + 1]);
    const row = app.store.db.prepare('SELECT decision, label, user FROM reviews WHERE inspection_id = ?').get(target);
    expect(row).toEqual({ decision: 'confirmed', label: 'defect', user: 'quinn' });
    // u undoes it: an 'undone' row, and the card is unreviewed again.
    await page.keyboard.press('u');
    await expect.poll(() => page.textContent(`figure.card[data-id="${target}"] .review`), SETTLE).toBe('unreviewed');
    const decisions = app.store.db.prepare('SELECT decision FROM reviews WHERE inspection_id = ? ORDER BY id').pluck().all(target);
    expect(decisions).toEqual(['confirmed', 'undone']);
  });

  it('a score range below the defect threshold shows the uncertain frames', async () => {
    await page.locator('input[name=maxScore]').fill(String(THRESHOLDS.defect - 0.01));
    await expect.poll(() => page.$$eval('figure.card', (els) => els.length > 0 && els.every((e) => e.classList.contains('uncertain'))), SETTLE).toBe(true);
    const scores = await page.$$eval('figure.card .score', (els) => els.map((e) => Number(e.textContent)));
    expect(Math.max(...scores)).toBeLessThan(THRESHOLDS.defect);
    await page.click('text=reset');
  });

  it('shows the detail of a flagged frame and goes on to the next after a verdict', async () => {
    await page.waitForSelector('figure.card.defect');
    const id = (await page.getAttribute('figure.card.defect', 'data-id'))!;
    await page.dblclick(`figure.card[data-id="${id}"]`);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#detail-image');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    expect(await page.getAttribute('#detail-image', 'src')).toBe(`/api/inspections/${id}/overlay`);
    await expect.poll(() => page.$$eval('.neighbours a.thumb', (els) => els.length), SETTLE).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'detail.png') });
    await page.keyboard.press('o');
    expect(await page.getAttribute('#detail-image', 'src')).toBe(`/api/inspections/${id}/image`);
    await page.keyboard.press('f');
    await page.waitForFunction((old) => !location.hash.endsWith(old), id);
    const row = app.store.db.prepare('SELECT decision, label, user FROM reviews WHERE inspection_id = ?').get(id);
    expect(row).toEqual({ decision: 'rejected', label: 'good', user: 'quinn' });
  });

  it('changes a threshold in Settings, previews the effect, applies it and audits it', async () => {
    await page.goto(`${app.reviewUrl}/#/settings`);
    await page.waitForSelector('.threshold-row[data-camera="cells"]');
    await page.fill('.threshold-row input[name=defect]', String(STRICTER));
    await expect.poll(() => page.textContent('.threshold-row .preview'), SETTLE).toMatch(/^[1-9]\d* of the last \d+ inspections would change verdict \(.*defect → /);
    await page.click('.threshold-row button.apply');
    await expect.poll(() => page.textContent('#audit tbody'), SETTLE).toContain('thresholds.set');
    expect(app.control.thresholds('cells')).toEqual({ defect: STRICTER, uncertainBand: THRESHOLDS.uncertainBand });
    const audit = app.store.db.prepare("SELECT user, target, detail FROM audit WHERE action = 'thresholds.set'").get() as { user: string; target: string; detail: string };
    expect(audit.user).toBe('quinn');
    expect(audit.target).toBe('cells');
    expect(JSON.parse(audit.detail)).toEqual({ before: THRESHOLDS, after: { defect: STRICTER, uncertainBand: THRESHOLDS.uncertainBand } });
    // The line uses it: the next stored inspections carry the new threshold.
    const count = seen.length;
    await until('an inspection with the new threshold', () => seen.slice(count).find((i) => i.thresholds.defect === STRICTER));
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings.png') });
  });

  it('draws the stats charts', async () => {
    await page.goto(`${app.reviewUrl}/#/stats`);
    await page.waitForSelector('.chart canvas');
    expect(await page.$$eval('.chart canvas', (els) => els.length)).toBe(3);
    // The shift report of the range shown, one click away: the page it links to answers with the report.
    const href = (await page.getAttribute('.stats .toolbar a.report:not(.csv)', 'href'))!;
    expect(href).toMatch(/^\/reports\/shift\?from=.+&to=.+/);
    const report = await page.request.get(`${app.reviewUrl}${href}`);
    expect(report.status()).toBe(200);
    expect(await report.text()).toContain('cells');
    await page.screenshot({ path: path.join(ARTIFACTS, 'stats.png'), fullPage: true });
  });

  it('keeps a sample of the camera on request from Live, and shows it on the line board', async () => {
    await page.goto(`${app.reviewUrl}/#/live`);
    await page.click('figure.camera[data-camera="cells"] button.capture-sample');
    await page.waitForSelector('figure.camera a.captured', SETTLE);
    const id = (await page.getAttribute('figure.camera a.captured', 'href'))!.replace('#/inspection/', '');
    const sample = app.store.get(id)!;
    expect(sample.imagePath).toBeTruthy();
    expect(app.store.db.prepare('SELECT user, action, target FROM audit WHERE action = ? ORDER BY id DESC').get('sample.capture')).toEqual({ user: 'quinn', action: 'sample.capture', target: 'cells' });
    await page.goto(`${app.reviewUrl}/#/board`);
    await page.waitForSelector('.board-tile[data-camera="cells"] .last-defect img');
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('.board-tile .last-defect img');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    const shown = Number(await page.textContent('.board-tile[data-camera="cells"] .counts.big .count.defect b'));
    expect(shown).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'board.png') });
    // The same session on a phone: the detail of a flagged frame.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.addCookies(await page.context().cookies());
    const small = await phone.newPage();
    try {
      const flagged = seen.filter((i) => i.verdict === 'defect').at(-1)!;
      await small.goto(`${app.reviewUrl}/#/inspection/${flagged.id}`);
      await small.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>('#detail-image');
        return !!img && img.complete && img.naturalWidth > 0;
      });
      await small.screenshot({ path: path.join(ARTIFACTS, 'phone.png') });
    } finally {
      await phone.close();
    }
  });

  it('acts on what is shown while the server is slow to answer: quick verdicts judge consecutive frames, undo undoes them', async () => {
    // Last, so the frames it judges are no other test's. The server announces a verdict (SSE) before
    // it answers the request: holding the answers back makes the cards show the verdicts while the
    // requests are in flight, so the next keys land then.
    await page.goto(`${app.reviewUrl}/#/queue`);
    await page.waitForSelector('figure.card.current');
    await page.route('**/api/reviews', async (route) => {
      const res = await route.fetch();
      await new Promise((r) => setTimeout(r, 500));
      await route.fulfill({ response: res });
    });
    try {
      await page.click('figure.card >> nth=0');
      const first = (await currentId())!;
      const before = await page.$$eval('figure.card', (els) => els.map((e) => e.getAttribute('data-id')!));
      expect(before.indexOf(first) + 2).toBeLessThan(before.length);
      const second = before[before.indexOf(first) + 1]!;
      // Earlier tests may have judged these frames; what counts is what these keys add.
      const decisions = (id: string) => app.store.db.prepare('SELECT decision FROM reviews WHERE inspection_id = ? ORDER BY id').pluck().all(id);
      const [had1, had2] = [decisions(first), decisions(second)];
      await page.keyboard.press('d');
      await page.keyboard.press('f');
      await expect.poll(() => page.textContent(`figure.card[data-id="${second}"] .review`), SETTLE).toBe('false positive');
      const after = await page.$$eval('figure.card', (els) => ({
        ids: els.map((e) => e.getAttribute('data-id')),
        current: els.find((e) => e.classList.contains('current'))?.getAttribute('data-id'),
      }));
      expect(after.current).toBe(after.ids[after.ids.indexOf(second) + 1]);
      expect([decisions(first), decisions(second)]).toEqual([
        [...had1, 'confirmed'],
        [...had2, 'rejected'],
      ]);
      await page.keyboard.press('u');
      await page.keyboard.press('u');
      await expect.poll(() => [decisions(first), decisions(second)], SETTLE).toEqual([
        [...had1, 'confirmed', 'undone'],
        [...had2, 'rejected', 'undone'],
      ]);
      await expect.poll(() => page.textContent(`figure.card[data-id="${first}"] .review`), SETTLE).toBe('unreviewed');
    } finally {
      await page.unroute('**/api/reviews');
    }
  });

  it('shows another tab the review left in force by an undo: back to "needs expert", not "unreviewed"', async () => {
    // A second tab of the same reviewer: the session cookie in a context of its own.
    const tab = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await tab.addCookies(await page.context().cookies());
    const other = await tab.newPage();
    try {
      await other.goto(`${app.reviewUrl}/#/queue`);
      await page.goto(`${app.reviewUrl}/#/queue`);
      await page.waitForSelector('figure.card.current');
      await page.click('figure.card >> nth=1');
      const target = (await currentId())!;
      await other.waitForSelector(`figure.card[data-id="${target}"]`, SETTLE);
      await page.keyboard.press('e');
      await expect.poll(() => other.textContent(`figure.card[data-id="${target}"] .review`), SETTLE).toBe('needs expert');
      await page.click(`figure.card[data-id="${target}"]`);
      await page.keyboard.press('d');
      await expect.poll(() => other.textContent(`figure.card[data-id="${target}"] .review`), SETTLE).toBe('confirmed');
      await page.keyboard.press('u');
      await expect.poll(() => page.textContent(`figure.card[data-id="${target}"] .review`), SETTLE).toBe('needs expert');
      await expect.poll(() => other.textContent(`figure.card[data-id="${target}"] .review`), SETTLE).toBe('needs expert');
      expect(app.store.reviews.currentLabel(app.store.get(target)!)).toMatchObject({ label: 'uncertain', reviewed: false });
    } finally {
      await tab.close();
    }
  });
});
