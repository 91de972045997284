/// <reference lib="dom" />
// The review station in headless Chromium over a seeded store and the real line control: the
// threshold bounds and reset, the line board updating live, phone and tablet layouts, the
// relabel pick-list, notes, undo back to its frame, zoom and pan, the reference frame, roles.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/line/bus.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createLineControl, type LineControl } from '../../src/line/control.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { createUserStore } from '../../src/review/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { CameraStatus, Inspection, Verdict } from '../../src/common/types.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeInspection } from '../helpers/inspection.js';
import { FIXTURES } from '../helpers/paths.js';
import { anomalyModel, baseManifest, writePackage } from '../inference/helpers.js';
import { testReviewServer } from './server-helpers.js';
import { ensureUiBuilt } from './ui-build.js';

const SETTLE = { timeout: 10_000 };
const PASSWORDS = { erin: 'erin-engineer', otto: 'otto-operator' };

let dir: string;
let store: Store;
let server: FastifyInstance;
let url: string;
let browser: Browser;
let control: LineControl;
let jpeg: Buffer;
let goodJpeg: Buffer;
const bus = createBus(silentLogger());
const cameras: CameraStatus[] = [
  { cameraId: 'cells', state: 'online', framesIn: 42, framesDropped: 0, framesCorrupt: 0, reconnects: 0 },
  { cameraId: 'dock', state: 'online', framesIn: 40, framesDropped: 0, framesCorrupt: 0, reconnects: 0 },
];
const seeded: Inspection[] = [];

/** Stores an inspection as the pipeline would and tells open browsers (the bus event the server forwards). */
function stored(verdict: Verdict, score: number, seq: number, camera = 'cells', at = Date.now() - 5000 + seq * 100): Inspection {
  const i = store.save(makeInspection({ verdict, score, frameSeq: seq, capturedAt: at, cameraId: camera }), { image: verdict === 'ok' ? goodJpeg : jpeg, overlay: verdict === 'ok' ? undefined : jpeg });
  bus.emit('inspection', { inspection: i, frame: undefined as never, output: { score }, storedAt: Date.now(), requested: false });
  return i;
}

beforeAll(async () => {
  const uiDir = await ensureUiBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-station-'));
  const config = parseConfig({ cameras: cameras.map((c) => ({ id: c.cameraId, source: 'x' })) });
  store = openStore({ config: config.store, dataDir: dir, log: silentLogger() });
  const manifest = baseManifest('anomaly', { thresholds: { defect: 1, uncertainBand: 0.2 } });
  const pkg = await loadModelPackage(await writePackage(dir, anomalyModel(), manifest, 'model'));
  control = createLineControl({ config, inferencer: await createInferencer({ pkg, executionProviders: ['cpu'], threads: 1, log: silentLogger() }), modelDir: pkg.dir, bus, log: silentLogger() });
  jpeg = await sharp(path.join(FIXTURES, 'cell0030.png')).resize(600, 600).jpeg().toBuffer();
  goodJpeg = await sharp(path.join(FIXTURES, 'cell0020.png')).resize(600, 600).jpeg().toBuffer();
  for (let i = 0; i < 24; i++) seeded.push(stored(i % 3 === 0 ? 'defect' : i % 3 === 1 ? 'uncertain' : 'ok', i % 3 === 0 ? 1.2 + i / 100 : i % 3 === 1 ? 0.9 : 0.3, i));
  // An ok frame outside the image sample: stored without an image.
  store.save(makeInspection({ verdict: 'ok', score: 0.2, frameSeq: 24, capturedAt: Date.now() - 5000 + 24 * 100, cameraId: 'cells' }));
  const users = createUserStore({ db: store.db });
  await users.add({ name: 'erin', role: 'engineer', password: PASSWORDS.erin });
  await users.add({ name: 'otto', role: 'operator', password: PASSWORDS.otto });
  server = testReviewServer({
    store,
    bus,
    cameras,
    uiDir,
    config: config.review,
    control,
    model: () => ({ name: 'cells-test', version: manifest.version, task: 'anomaly', labels: ['good', 'crack', 'finger'] }),
  });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await control?.close();
  store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function signedIn(name: keyof typeof PASSWORDS, viewport = { width: 1280, height: 860 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, hasTouch: viewport.width < 1100, isMobile: viewport.width < 600 });
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', PASSWORDS[name]);
  await page.click('button[type=submit]');
  await page.waitForSelector('header.nav');
  return { context, page };
}

const imagesLoaded = (page: Page, selector: string) =>
  page.waitForFunction((s) => {
    const imgs = Array.from(document.querySelectorAll<HTMLImageElement>(s));
    // The first few: the rest load lazily, when scrolled to.
    return imgs.length > 0 && imgs.slice(0, 4).every((i) => i.complete && i.naturalWidth > 0);
  }, selector);

describe('thresholds in Settings', () => {
  it("refuses out-of-bounds values next to the field, asks before a big change, keeps the message, and resets to the model's value", async () => {
    const { context, page } = await signedIn('erin');
    try {
      await page.goto(`${url}/#/settings`);
      const row = page.locator('.threshold-row[data-camera="cells"]');
      await row.waitFor();
      expect(await row.locator('.now').textContent()).toContain("the model's calibrated value");
      await row.locator('input[name=defect]').fill('-5');
      await expect.poll(() => row.locator('.field-error[data-field=defect]').textContent(), SETTLE).toContain('every frame would be a defect');
      expect(await row.locator('button.apply').isDisabled()).toBe(true);
      await row.locator('input[name=defect]').fill('1');
      await row.locator('input[name=uncertainBand]').fill('1');
      await expect.poll(() => row.locator('.field-error[data-field=uncertainBand]').textContent(), SETTLE).toContain('narrower than the defect threshold');
      expect(await row.locator('button.apply').isDisabled()).toBe(true);

      // A 60 % move: Apply asks first, and nothing changes until confirmed.
      await row.locator('input[name=uncertainBand]').fill('0.2');
      await row.locator('input[name=defect]').fill('1.6');
      await expect.poll(() => row.locator('.preview').textContent(), SETTLE).toMatch(/^\d+ of the last \d+ inspections would change verdict/);
      await row.locator('button.apply').click();
      await expect.poll(() => row.locator('.confirm').textContent(), SETTLE).toContain('defect threshold 1 → 1.6 (+60 %)');
      expect(control.thresholds('cells')).toEqual({ defect: 1, uncertainBand: 0.2 });
      await row.locator('button.confirm-apply').click();
      await expect.poll(() => control.thresholds('cells'), SETTLE).toEqual({ defect: 1.6, uncertainBand: 0.2 });
      // The row keeps its message, says where the value came from, and the preview has nothing left to change.
      await expect.poll(() => row.locator('.status').textContent(), SETTLE).toContain('Applied at');
      await expect.poll(() => row.locator('.now').textContent(), SETTLE).toContain('set here by erin');
      expect(await row.locator('.preview').textContent()).toBe('These are the values in force.');

      await row.locator('button.reset').click();
      await expect.poll(() => control.thresholds('cells'), SETTLE).toEqual({ defect: 1, uncertainBand: 0.2 });
      await expect.poll(() => row.locator('input[name=defect]').inputValue(), SETTLE).toBe('1');
      expect(await row.locator('.status').textContent()).toContain("Reset to the model's calibrated value");
      expect(await row.locator('button.reset').isDisabled()).toBe(true);
      await expect.poll(() => page.textContent('#audit tbody'), SETTLE).toContain('thresholds.reset');

      // A change from elsewhere (the module twin) shows at once, with its source.
      control.setThresholds({ defect: 1.05 }, { cameraId: 'cells', source: 'twin' });
      await expect.poll(() => row.locator('.now').textContent(), SETTLE).toContain('the module twin');
      expect(await row.locator('input[name=defect]').inputValue()).toBe('1.05');
      expect(await row.locator('.twin-note').textContent()).toContain('sets them again whenever the device reconnects');
      control.setThresholds({ defect: 1 }, { cameraId: 'cells', source: 'review:erin' });
    } finally {
      await context.close();
    }
  });
});

describe('line board', () => {
  it('shows per camera the shift and last-hour counts, the defect rate and last defect, and updates live with alarms', async () => {
    const { context, page } = await signedIn('otto');
    try {
      await page.goto(`${url}/#/board`);
      const tile = page.locator('.board-tile[data-camera="cells"]');
      await tile.waitFor();
      const count = async (v: Verdict) => Number(await tile.locator(`.counts.big .count.${v} b`).textContent());
      const before = { defect: await count('defect'), ok: await count('ok') };
      expect(before.defect).toBe(seeded.filter((i) => i.cameraId === 'cells' && i.verdict === 'defect').length);
      expect(await page.textContent('.all-clear')).toBe('No alarms');
      await imagesLoaded(page, '.board-tile[data-camera="cells"] .last-defect img');
      // Large type: the rate is readable from a couple of metres.
      const size = await tile.locator('.rate-value').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
      expect(size).toBeGreaterThanOrEqual(48);
      await page.screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts/board.png') });

      const fresh = stored('defect', 2.5, 100, 'cells', Date.now());
      await expect.poll(() => count('defect'), SETTLE).toBe(before.defect + 1);
      expect(await tile.locator('.last-defect').getAttribute('href')).toBe(`#/inspection/${fresh.id}`);
      expect(await count('ok')).toBe(before.ok);
      stored('ok', 0.2, 101, 'dock', Date.now());
      await expect.poll(async () => Number(await page.locator('.board-tile[data-camera="dock"] .counts.big .count.ok b').textContent()), SETTLE).toBe(1);

      cameras[1] = { ...cameras[1]!, state: 'offline', lastError: 'connection refused' };
      bus.emit('cameraStatus', cameras[1]!);
      await expect.poll(() => page.textContent('.alarms'), SETTLE).toContain('camera dock offline: connection refused');
      expect(await page.getAttribute('.board-tile[data-camera="dock"]', 'class')).toContain('state-offline');
    } finally {
      cameras[1] = { ...cameras[1]!, state: 'online', lastError: undefined };
      await context.close();
    }
  });
});

describe('phone and tablet', () => {
  for (const viewport of [
    { width: 390, height: 844 },
    { width: 1024, height: 768 },
  ]) {
    it(`at ${viewport.width}×${viewport.height}: nothing wider than the screen, the whole image shown, verdict buttons in reach without scrolling`, async () => {
      const { context, page } = await signedIn('otto', viewport);
      try {
        // Against the screen's width: on a phone an overflowing page widens the layout viewport itself.
        const noOverflow = () => page.evaluate((w) => document.documentElement.scrollWidth <= w && window.innerWidth === w, viewport.width);
        /** Every verdict button and Sign out lie inside the screen as it is, not scrolled. */
        const inReach = () =>
          page.evaluate(() => {
            const els = [...Array.from(document.querySelectorAll<HTMLElement>('.verdict-buttons button')), document.querySelector<HTMLElement>('.nav button.link')!];
            return els.map((e) => {
              const r = e.getBoundingClientRect();
              const inside = r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
              // Thumb-sized: the verdict buttons at least 40 px tall (Sign out is a link in the bar).
              return { text: e.textContent, inside: inside && (e.closest('.nav') !== null || r.height >= 40) };
            });
          });
        await page.goto(`${url}/#/queue`);
        await page.waitForSelector('figure.card');
        await imagesLoaded(page, 'figure.card img');
        expect(await noOverflow()).toBe(true);
        expect((await inReach()).filter((b) => !b.inside)).toEqual([]);
        if (viewport.width < 600) await page.screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts/phone-queue.png') });

        const target = seeded.filter((i) => i.verdict === 'defect').at(-1)!;
        await page.goto(`${url}/#/inspection/${target.id}`);
        await imagesLoaded(page, '#detail-image');
        expect(await noOverflow()).toBe(true);
        expect((await inReach()).filter((b) => !b.inside)).toEqual([]);
        // The whole frame is in view: the image's drawn box lies inside the screen.
        const image = await page.locator('#detail-image').evaluate((img: HTMLImageElement) => {
          const r = img.getBoundingClientRect();
          return { left: r.left, right: r.right, width: window.innerWidth, fit: getComputedStyle(img).objectFit };
        });
        expect(image.left).toBeGreaterThanOrEqual(0);
        expect(image.right).toBeLessThanOrEqual(image.width);
        expect(image.fit).toBe('contain');
        if (viewport.width < 600) await page.screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts/phone-detail.png') });
        // A thumb on the bottom bar gives the verdict.
        await page.locator('.verdict-buttons button.verdict-btn.needs-expert').tap();
        await expect.poll(() => store.reviews.current(target.id)?.decision, SETTLE).toBe('needs-expert');
      } finally {
        await context.close();
      }
    });
  }
});

describe('detail page', () => {
  it('relabels from the model labels, keeps a note with the verdict, and undo goes back to the frame it undid', async () => {
    const { context, page } = await signedIn('otto');
    try {
      const flagged = seeded.filter((i) => i.verdict !== 'ok' && !store.reviews.current(i.id));
      const [first] = flagged.slice(-1);
      await page.goto(`${url}/#/queue`);
      await page.waitForSelector(`figure.card[data-id="${first!.id}"]`);
      await page.goto(`${url}/#/inspection/${first!.id}`);
      await page.waitForSelector('#detail-score');
      // A neighbour without a stored image is a small tile with its score, not an underlined link text.
      await expect.poll(() => page.$$eval('.neighbours a.thumb .tile', (els) => els.map((e) => e.textContent)), SETTLE).toEqual(['0.20']);
      expect(await page.textContent('.neighbours')).not.toContain('no image stored');
      await page.keyboard.press('n');
      await page.keyboard.type('crack at the busbar');
      await page.locator('textarea[name=note]').evaluate((e: HTMLTextAreaElement) => e.blur());
      await page.keyboard.press('r');
      await page.waitForSelector('.modal .choice');
      expect(await page.$$eval('.modal .choice', (els) => els.map((e) => e.getAttribute('data-label')))).toEqual(['good', 'crack', 'finger']);
      // The page's keys are off while the dialog is open: "d" types nothing and judges nothing.
      await page.keyboard.press('d');
      expect(store.reviews.current(first!.id)).toBeUndefined();
      await page.keyboard.press('2');
      await page.waitForFunction((id) => !location.hash.endsWith(id), first!.id, SETTLE);
      expect(store.reviews.current(first!.id)).toMatchObject({ decision: 'relabeled', label: 'crack', note: 'crack at the busbar' });
      // Undo: back on the frame it undid, unreviewed again.
      await page.keyboard.press('u');
      await page.waitForFunction((id) => location.hash.endsWith(id), first!.id, SETTLE);
      await expect.poll(() => page.textContent('#detail-review'), SETTLE).toBe('Review: unreviewed');
      expect(store.reviews.current(first!.id)).toBeUndefined();
      await expect.poll(() => page.textContent('.history'), SETTLE).toContain('crack at the busbar');
      // Typed labels work too.
      await page.keyboard.press('r');
      await page.fill('.modal input[name=label]', 'scratch');
      await page.keyboard.press('Enter');
      await expect.poll(() => store.reviews.current(first!.id)?.label, SETTLE).toBe('scratch');
      await page.goto(`${url}/#/inspection/${first!.id}`);
      await page.waitForSelector('#detail-score');
      await page.keyboard.press('u');
      await expect.poll(() => store.reviews.current(first!.id), SETTLE).toBeUndefined();
    } finally {
      await context.close();
    }
  });

  it('zooms about the centre, pans by drag and wheel, and shows the camera reference beside the frame in step', async () => {
    const { context, page } = await signedIn('erin');
    try {
      const good = seeded.find((i) => i.verdict === 'ok' && i.cameraId === 'cells')!;
      await page.goto(`${url}/#/inspection/${good.id}`);
      await page.waitForSelector('button.set-reference');
      await page.click('button.set-reference');
      await expect.poll(() => page.textContent('.status'), SETTLE).toContain('now the reference');
      const flagged = seeded.filter((i) => i.verdict === 'defect').at(-2)!;
      await page.goto(`${url}/#/inspection/${flagged.id}`);
      await imagesLoaded(page, '#detail-image');
      const scroll = (box: string) => page.locator(`.image-box[data-box=${box}]`).evaluate((e) => ({ left: e.scrollLeft, top: e.scrollTop, maxLeft: e.scrollWidth - e.clientWidth }));
      // Zoom 4×: the middle of the frame, not its top-left corner.
      const atOne = (await scroll('frame')).maxLeft;
      await page.keyboard.press('z');
      await page.keyboard.press('z');
      await expect.poll(() => page.textContent('button.zoom'), SETTLE).toContain('zoom 4×');
      await expect.poll(async () => (await scroll('frame')).maxLeft, SETTLE).toBeGreaterThan(atOne + 1000);
      // Where the view settles once the 4× layout is done (a loaded browser may show an
      // intermediate scroll position for a frame or two while it lays the image out).
      const offCentre = async () => {
        const s = await scroll('frame');
        return Math.abs(s.left / s.maxLeft - 0.5);
      };
      await expect.poll(offCentre, SETTLE).toBeLessThan(0.1);
      const centred = await scroll('frame');
      // Drag pans.
      const box = (await page.locator('.image-box[data-box=frame]').boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 4 });
      await page.mouse.up();
      const dragged = await scroll('frame');
      expect(centred.left - dragged.left).toBeGreaterThan(100);
      expect(centred.top - dragged.top).toBeGreaterThan(40);
      // The wheel pans too, and leaves the zoom alone.
      await page.mouse.wheel(0, 200);
      await expect.poll(async () => (await scroll('frame')).top, SETTLE).toBeGreaterThan(dragged.top + 100);
      expect(await page.textContent('button.zoom')).toContain('zoom 4×');
      // The reference beside it shows the same part of the frame.
      await page.keyboard.press('g');
      await imagesLoaded(page, '#reference-image');
      await expect.poll(async () => Math.abs((await scroll('reference')).left - (await scroll('frame')).left), SETTLE).toBeLessThan(3);
      await page.screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts/detail-reference.png') });
      const ref = (await page.locator('.image-box[data-box=reference]').boundingBox())!;
      await page.mouse.move(ref.x + ref.width / 2, ref.y + ref.height / 2);
      const was = (await scroll('reference')).left;
      await page.mouse.wheel(-150, 0);
      await expect.poll(async () => (await scroll('reference')).left, SETTLE).toBeLessThan(was - 100);
      await expect.poll(async () => Math.abs((await scroll('frame')).left - (await scroll('reference')).left), SETTLE).toBeLessThan(3);
    } finally {
      await context.close();
    }
  });
});

describe('queue', () => {
  it('keeps a note with a verdict given in the queue; undo moves the cursor back to the frame it undid', async () => {
    const { context, page } = await signedIn('otto');
    try {
      await page.goto(`${url}/#/queue`);
      await page.waitForSelector('figure.card.current');
      await page.click('figure.card >> nth=2');
      const target = (await page.getAttribute('figure.card.current', 'data-id'))!;
      // Earlier tests may have judged it: undo goes back to whatever was in force.
      const had = store.reviews.current(target);
      await page.keyboard.press('n');
      await page.keyboard.type('reflection, not a crack');
      await page.keyboard.press('Enter');
      await page.keyboard.press('f');
      await expect.poll(() => page.getAttribute('figure.card.current', 'data-id'), SETTLE).not.toBe(target);
      await expect.poll(() => store.reviews.current(target), SETTLE).toMatchObject({ decision: 'rejected', note: 'reflection, not a crack' });
      // The field empties once the page has the server's answer (the store may commit a moment before).
      await expect.poll(() => page.inputValue('input[name=note]'), SETTLE).toBe('');
      await page.keyboard.press('u');
      await expect.poll(() => page.getAttribute('figure.card.current', 'data-id'), SETTLE).toBe(target);
      expect(store.reviews.current(target)).toEqual(had);
    } finally {
      await context.close();
    }
  });
});

describe('roles and page furniture', () => {
  it("tells an operator that Settings needs the engineer role, and loads without a 404 (favicon)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const missing: string[] = [];
    page.on('response', (r) => r.status() === 404 && missing.push(r.url()));
    try {
      await page.goto(url);
      await page.fill('input[name=name]', 'otto');
      await page.fill('input[name=password]', PASSWORDS.otto);
      await page.click('button[type=submit]');
      await page.waitForSelector('figure.card');
      await page.goto(`${url}/#/settings`);
      await expect.poll(() => page.textContent('#needs-role'), SETTLE).toContain('Settings needs the engineer role; you are signed in as otto (operator)');
      expect(await page.$('figure.card')).toBeNull();
      const icon = await page.evaluate(() => fetch('/favicon.ico').then((r) => [r.status, r.headers.get('content-type')]));
      expect(icon).toEqual([200, 'image/svg+xml']);
      expect(missing).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
