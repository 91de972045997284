// The Learning page in headless Chromium on a real line: the candidate in shadow with its
// achieved share, the comparison with intervals, promote and roll back by role, and the queue's
// disagreement filter.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Learning } from '../../src/learning/index.js';
import { createUserStore } from '../../src/review/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { ensureUiBuilt } from '../review/ui-build.js';
import { candidatePackage, invertedInput, reviewByCandidateRanking, startLearningLine, tempDir, until } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let app: App;
let learning: Learning;
let browser: Browser;

async function signIn(page: Page, name: string, password: string): Promise<void> {
  await page.goto(`${app.reviewUrl}/#/learning`);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

beforeAll(async () => {
  await ensureUiBuilt();
  ({ dir, cleanup } = await tempDir('visor-learning-page-'));
  const candidateDir = await candidatePackage(path.join(dir, 'candidate'), invertedInput('inverted-page'));
  app = await startLearningLine(dir, {
    thresholds: { ...(await thresholdsForMix(6, 0)), uncertainBand: 0 },
    learning: { candidate: candidateDir, promotion: { minFrames: 20, minPerClass: 5, margin: 0.05, bootstrap: 100 } },
    review: { port: 0 },
  });
  const users = createUserStore({ db: app.store.db });
  await users.add({ name: 'quinn', role: 'engineer', password: 'line-3-quality' });
  await users.add({ name: 'olga', role: 'operator', password: 'olga-password' });
  learning = (app.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
  browser = await launchBrowser();
  await until('the candidate scored frames', () => (learning.status().shadow?.scoredTotal ?? 0) >= 30, 90_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

describe('Learning page', () => {
  it('shows an operator the candidate and its shadow share, without the engineer\'s buttons', async () => {
    const page = await browser.newPage();
    await signIn(page, 'olga', 'olga-password');
    await page.waitForSelector('#shadow');
    expect(await page.textContent('#candidate')).toContain('inverted-page');
    expect(await page.textContent('#shadow')).toMatch(/Shadow: scores \d+\.\d% of frames \(configured 100\.0%/);
    expect(await page.$('#promote')).toBeNull();
    expect(await page.$('#train')).toBeNull();
    await page.close();
  });

  it('answers the API by role: an operator reads, an engineer is told why a promotion is refused', async () => {
    const session = async (name: string, password: string) => {
      const res = await fetch(`${app.reviewUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
      expect(res.status).toBe(200);
      const { csrf } = (await res.json()) as { csrf: string };
      return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': csrf };
    };
    const olga = await session('olga', 'olga-password');
    const quinn = await session('quinn', 'line-3-quality');
    const get = await fetch(`${app.reviewUrl}/api/learning/comparison`, { headers: olga });
    expect(get.status).toBe(200);
    expect(await get.json()).toMatchObject({ candidateVersion: 'inverted-page', liveVersion: '0.5.0', frames: 0, promotion: { allowed: false } });
    const post = (headers: Record<string, string>) => fetch(`${app.reviewUrl}/api/learning/promote`, { method: 'POST', headers });
    expect((await post(olga)).status).toBe(403);
    const refused = await post(quinn);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'PROMOTION_REFUSED', error: expect.stringMatching(/0 reviewed frames .* at least 20/) });
    expect(app.control.inferencer.manifest.version).toBe('0.5.0');
  });

  it('lets an engineer promote once the comparison allows it, then roll back', async () => {
    const page = await browser.newPage();
    await signIn(page, 'quinn', 'line-3-quality');
    await page.waitForSelector('#promote');
    expect(await page.isDisabled('#promote')).toBe(true);
    expect(await page.textContent('#promotion')).toMatch(/reviewed frames scored by both models; at least 20/);

    reviewByCandidateRanking(app, 'inverted-page');
    await page.waitForSelector('#promote:not([disabled])');
    expect(await page.textContent('.comparison')).toMatch(/reviewed frames scored by both models/);
    const auroc = await page.textContent('tr[data-figure=auroc]');
    expect(auroc).toMatch(/AUROC\s*0\.\d{3}\s*\[0\.\d{3}, [01]\.\d{3}\]\s*1\.000/);
    await page.click('#promote');
    await page.waitForFunction(() => document.querySelector('#live-model')?.textContent?.includes('inverted-page'));
    expect(app.control.inferencer.manifest.version).toBe('inverted-page');
    expect(await page.textContent('#changes')).toMatch(/promote\s*0\.5\.0 → inverted-page\s*quinn/);

    await page.click('#rollback');
    await page.waitForFunction(() => document.querySelector('#live-model')?.textContent?.includes('0.5.0'));
    expect(app.control.inferencer.manifest.version).toBe('0.5.0');
    expect(await page.textContent('#changes')).toMatch(/rollback\s*inverted-page → 0\.5\.0\s*quinn/);
    const audit = app.store.db.prepare("SELECT action, user FROM audit WHERE action LIKE 'learning.%' ORDER BY id").all();
    expect(audit).toEqual([
      { action: 'learning.promote', user: 'quinn' },
      { action: 'learning.rollback', user: 'quinn' },
    ]);
    await page.close();
  });

  it('takes a reviewer to the frames the models disagree on', async () => {
    const page = await browser.newPage();
    await signIn(page, 'olga', 'olga-password');
    // The candidate left the shadow with its promotion; shadow it again for this page.
    await learning.useCandidate(path.join(dir, 'candidate'), 'test');
    await until('disagreements scored', () => (learning.status().shadow?.disagreements ?? 0) >= 2, 60_000);
    await page.waitForSelector('#review-disagreements');
    await page.click('#review-disagreements');
    await page.waitForSelector('figure.inspection');
    expect(await page.inputValue('select[name=shadow]')).toBe('disagree');
    expect(await page.inputValue('select[name=verdict]')).toBe('all');
    const shown = await page.$$eval('figure.inspection', (els) => els.map((e) => e.getAttribute('data-id')));
    const disagreeing = new Set(app.store.db.prepare('SELECT inspection_id FROM shadow_scores WHERE disagreement IS NOT NULL').pluck().all() as string[]);
    expect(shown.length).toBeGreaterThan(0);
    for (const id of shown) expect(disagreeing.has(id!)).toBe(true);
    await page.close();
  });
});
