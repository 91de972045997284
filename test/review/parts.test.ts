/// <reference lib="dom" />
// Stations and part inspections in the review UI and its API, on a real line: a folder camera
// (test/fixtures/elpv), the shipped model behind a gate (to hold a part in inference), SQLite
// on disk, the review server, headless Chromium. Recipe 1 passes every cell, recipe 2 rejects
// every cell, so the recipe that inspected a part shows in its verdict.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { createUserStore } from '../../src/review/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';
import { startStationLine, triggerOverHttp, type StationLine } from '../stations/helpers.js';
import { ensureUiBuilt } from './ui-build.js';

const SETTLE = { timeout: 15_000 };
const PASSWORDS = { erin: 'erin-engineer', otto: 'otto-operator' };

let line: StationLine;
let browser: Browser;
let engineer: { authorization: string };
let gate: Promise<void> = Promise.resolve();
let openGate: () => void = () => {};
const closeGate = () => (gate = new Promise((r) => (openGate = r)));
const release = () => {
  openGate();
  gate = Promise.resolve();
};

beforeAll(async () => {
  await ensureUiBuilt();
  const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
  line = await startStationLine({
    inferencer: delayedInferencer(real, () => gate),
    stations: [
      {
        id: 'st1',
        cameras: ['cells'],
        deadlineMs: 3000,
        lateWindowMs: 30_000,
        triggers: ['http'],
        recipes: [
          { index: 1, name: 'mono', thresholds: { defect: 1e6 } },
          { index: 2, name: 'poly', thresholds: { defect: 0, uncertainBand: 0 } },
          { index: 3, name: 'gone', model: 'models/no-such-package' },
        ],
      },
    ],
  });
  const users = createUserStore({ db: line.app.store.db });
  await users.add({ name: 'erin', role: 'engineer', password: PASSWORDS.erin });
  await users.add({ name: 'otto', role: 'operator', password: PASSWORDS.otto });
  engineer = { authorization: `Bearer ${users.createToken('erin', 'parts test').token}` };
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  release();
  await browser?.close();
  await line?.stop();
});

async function api(method: string, url: string, auth: { authorization: string }, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${line.url}${url}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const selectRecipe = (index: number, auth = engineer, station = 'st1') => api('POST', `/api/stations/${station}/recipe`, auth, { index });
const part = (partId: string) => line.stations.parts.list({ partId })[0];

async function signedIn(name: keyof typeof PASSWORDS): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(line.url);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', PASSWORDS[name]);
  await page.click('button[type=submit]');
  await page.waitForSelector('header.nav');
  return { context, page };
}

describe('recipe selection over HTTP', () => {
  it('is for engineers, and names what is wrong with a request', async () => {
    const asOperator = await selectRecipe(2, line.auth);
    expect(asOperator.status).toBe(403);
    const unknown = await selectRecipe(7);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('station st1 has no recipe with index 7 (known: 1, 2, 3)');
    // A recipe whose model package cannot be loaded: refused with the reason, the running recipe stays.
    const broken = await selectRecipe(3);
    expect(broken.status).toBe(409);
    expect(broken.body.error).toMatch(/^recipe 3 not applied, the running one stays: .*no-such-package/);
    expect((await selectRecipe(1, engineer, 'nope')).status).toBe(404);
    const stations = await api('GET', '/api/stations', line.auth);
    expect(stations.body.stations).toMatchObject([{ id: 'st1', cameras: ['cells'], recipes: [{ index: 1, name: 'mono' }, { index: 2, name: 'poly' }, { index: 3, name: 'gone' }], status: { recipe: 1 } }]);
    expect(line.stations.recipes.current('st1')).toBe(1);
  });

  it('switches between parts, as the PLC does: the part in flight keeps its recipe, the next gets the new one; audited with who asked', async () => {
    closeGate();
    const first = triggerOverHttp(line, 'st1', 'SN-1');
    await until('SN-1 busy', () => line.stations.stations[0]!.handshake.state.busy);
    let answered = false;
    const switched = selectRecipe(2).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false); // not while a part waits for its result
    expect(line.stations.recipes.current('st1')).toBe(1);
    release();
    expect((await first).body).toMatchObject({ partId: 'SN-1', verdict: 'ok', resultCode: 0 });
    const answer = await switched;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: 'st1', status: { recipe: 2 } });
    expect((answer.body.recipeChanges as unknown[])[0]).toMatchObject({ fromIndex: 1, toIndex: 2, source: 'review:erin' });
    expect(part('SN-1')).toMatchObject({ recipe: 1, verdict: 'ok' });
    expect(line.stations.parts.recipeChanges('st1')[0]).toMatchObject({ fromIndex: 1, toIndex: 2, source: 'review:erin' });

    expect((await triggerOverHttp(line, 'st1', 'SN-2')).body).toMatchObject({ verdict: 'ng', resultCode: 1 });
    expect(part('SN-2')).toMatchObject({ recipe: 2, viewsVerdict: 'defect' });
  });
});

describe('parts in the review UI', () => {
  it('shows the stations on the board with their handshake and last part; an engineer switches the recipe there, an operator only sees it', async () => {
    const { context, page } = await signedIn('erin');
    try {
      await page.goto(`${line.url}/#/board`);
      const tile = page.locator('.station-tile[data-station="st1"]');
      await expect.poll(() => tile.locator('.recipe-now').textContent(), SETTLE).toBe('2 (poly)');
      await expect.poll(() => tile.locator('.last-part a').textContent(), SETTLE).toContain('SN-2 · NG · code 1');
      // SN-2's result is not acknowledged (HTTP has no Ack): ResultReady and Ng high, Ready low.
      const lit = async () => (await tile.locator('.signal.on').allTextContents()).join(' ');
      expect(await lit()).toBe('ResultReady Ng');
      await tile.locator('select[name=recipe]').selectOption('1');
      await tile.locator('button.apply-recipe').click();
      await expect.poll(() => tile.locator('[role=status]').textContent(), SETTLE).toBe('recipe 1 (mono) in force');
      await expect.poll(() => tile.locator('.recipe-now').textContent(), SETTLE).toBe('1 (mono)');
      expect(await tile.locator('.recipe-changes li').first().textContent()).toContain('2 (poly) → 1 (mono) by review:erin');
      expect(line.stations.recipes.current('st1')).toBe(1);
      await tile.locator('.last-part a').click();
      await expect.poll(() => page.locator('#part-id').textContent(), SETTLE).toBe('SN-2');
    } finally {
      await context.close();
    }
    const operator = await signedIn('otto');
    try {
      await operator.page.goto(`${line.url}/#/board`);
      const tile = operator.page.locator('.station-tile[data-station="st1"]');
      await expect.poll(() => tile.locator('.recipe-now').textContent(), SETTLE).toBe('1 (mono)');
      expect(await tile.locator('select[name=recipe]').count()).toBe(0);
    } finally {
      await operator.context.close();
    }
    // Back to the rejecting recipe for the parts below.
    expect((await selectRecipe(2)).status).toBe(200);
  });

  it('finds a part by its id from the queue, shows it as one item with its views, and keys pressed right after each page appears work', async () => {
    const { context, page } = await signedIn('otto');
    try {
      await page.goto(`${line.url}/#/queue`);
      await page.fill('.part-search input[name=partId]', 'SN-2');
      await page.press('.part-search input[name=partId]', 'Enter');
      // Keys as soon as the address changed, before the page's data came: Enter opens the first
      // (only) part found, 1 the first camera's view.
      await page.waitForURL('**/#/parts/SN-2', SETTLE);
      await page.keyboard.press('Enter');
      const stored = part('SN-2')!;
      await page.waitForURL(`**/#/part/${stored.id}`, SETTLE);
      await page.keyboard.press('1');
      const viewId = stored.views[0]!.inspectionId;
      await page.waitForURL(`**/#/inspection/${viewId}`, SETTLE);

      // The inspection names its part and links back to it.
      const link = page.locator('#detail-part');
      await expect.poll(() => link.textContent(), SETTLE).toBe('SN-2 · station st1');
      await link.click();
      await page.waitForURL(`**/#/part/${stored.id}`, SETTLE);
      await expect.poll(() => page.locator('#part-result').textContent(), SETTLE).toBe('NG');
      expect(await page.locator('#part-code').textContent()).toBe('1: a view is a defect');
      expect(await page.locator('#part-recipe').textContent()).toBe('2 (poly)');
      expect(await page.locator('#part-views-verdict').textContent()).toBe('defect');
      expect(await page.locator('.mark').count()).toBe(0);
      const view = page.locator('.part-views .card[data-camera="cells"]');
      expect(await view.getAttribute('href')).toBe(`#/inspection/${viewId}`);
      await page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>('.part-views .card img');
        return !!img && img.complete && img.naturalWidth > 0;
      });
      expect(await view.locator('img').getAttribute('src')).toBe(`/api/inspections/${viewId}/overlay`);
    } finally {
      await context.close();
    }
  });

  it('marks a part whose result was a timeout, and shows the late verdict of its views', async () => {
    closeGate();
    const answer = await triggerOverHttp(line, 'st1', 'SN-LATE');
    expect(answer.body).toMatchObject({ verdict: 'ng', resultCode: 10, late: true });
    release();
    const late = await until('the late verdict stored', () => part('SN-LATE')?.completedAt !== null && part('SN-LATE'));
    const { context, page } = await signedIn('otto');
    try {
      await page.goto(`${line.url}/#/parts/SN-LATE`);
      const row = page.locator(`.part-row[data-row="${late.id}"]`);
      await row.waitFor(SETTLE);
      expect(await row.locator('.mark').allTextContents()).toEqual(['timeout', 'late']);
      await row.click();
      await expect.poll(() => page.locator('#part-code').textContent(), SETTLE).toBe('10: timeout: no verdict by the deadline');
      expect(await page.locator('#part-result').textContent()).toBe('NG');
      expect(await page.locator('#part-late').textContent()).toContain(`the views said ${late.viewsVerdict}`);
      expect(await page.locator('.part-facts .mark').allTextContents()).toEqual(['timeout', 'late']);
    } finally {
      await context.close();
    }
  });

  it('says so when no part has the id searched for, and what a part id is when it cannot be one', async () => {
    const { context, page } = await signedIn('otto');
    try {
      await page.goto(`${line.url}/#/parts/${encodeURIComponent('NO SUCH/PART')}`);
      await expect.poll(() => page.locator('#parts-empty').textContent(), SETTLE).toBe('No part inspection with part id NO SUCH/PART.');
      // A part id Visor cannot hold: the page says what a part id is.
      await page.fill('.part-search input[name=partId]', 'Prüfteil-1');
      await page.press('.part-search input[name=partId]', 'Enter');
      await expect.poll(() => page.locator('[role=alert]').textContent(), SETTLE).toBe('A part id is 1 to 128 printable ASCII characters (letters, digits, punctuation; spaces only inside).');
    } finally {
      await context.close();
    }
  });
});
