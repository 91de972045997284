// The shift report over known stored inspections and verdicts: exact counts in the CSV, and
// the printable page as a signed-in user sees it in Chromium, printed to PDF.
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createBus } from '../../src/line/bus.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createMetrics } from '../../src/line/metrics.js';
import { buildReviewServer, createUserStore } from '../../src/review/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { Inspection, Verdict } from '../../src/common/types.js';
import { makeInspection } from '../helpers/inspection.js';
import { FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { launchBrowser } from '../helpers/browser.js';

const FROM = Date.UTC(2026, 0, 5, 6, 0, 0);
const TO = FROM + 8 * 3600_000;
const PASSWORD = 'operator-pass';

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let app: FastifyInstance;
let cookie: string;
const byName = new Map<string, Inspection>();

function build(): FastifyInstance {
  const bus = createBus(silentLogger());
  return buildReviewServer({
    store,
    bus,
    config: parseConfig({ cameras: [{ id: 'cells', source: 'x' }] }).review,
    cameras: () => [],
    model: () => ({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
    uiDir: path.join(dir, 'no-ui'),
    log: silentLogger(),
  });
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-review-reports-'));
  store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
  const jpeg = await sharp(path.join(FIXTURES, 'cell0020.png')).jpeg().toBuffer();
  // name, camera, verdict, score, minutes after FROM (negative or ≥ 480: outside the shift), stored image
  const rows: [string, string, Verdict, number, number, boolean][] = [
    ['o0', 'cells', 'ok', 0.2, 0, false], // at the start: inside (from is inclusive)
    ['o1', 'cells', 'ok', 0.3, 10, false],
    ['o2', 'cells', 'ok', 0.31, 20, false],
    ['o3', 'cells', 'ok', 0.32, 30, false],
    ['o4', 'cells', 'ok', 0.33, 40, false],
    ['u1', 'cells', 'uncertain', 0.85, 50, true],
    ['u2', 'cells', 'uncertain', 0.86, 60, true],
    ['u3', 'cells', 'uncertain', 0.87, 70, true],
    ['d1', 'cells', 'defect', 1.1, 80, true],
    ['d2', 'cells', 'defect', 1.4, 90, true],
    ['d3', 'cells', 'defect', 1.3, 100, true],
    ['d4', 'cells', 'defect', 1.2, 110, false],
    ['p1', 'dock', 'ok', 0.2, 120, false],
    ['p2', 'dock', 'ok', 0.2, 130, false],
    ['e1', 'dock', 'defect', 1.5, 140, true],
    ['e2', 'dock', 'defect', 1.05, 150, true],
    ['before', 'cells', 'defect', 2.0, -1, true],
    ['at-end', 'cells', 'defect', 1.9, 480, true], // to is exclusive
  ];
  for (const [name, cameraId, verdict, score, minutes, image] of rows) {
    const capturedAt = FROM + minutes * 60_000;
    byName.set(name, store.save(makeInspection({ cameraId, verdict, score, capturedAt, frameSeq: byName.size + 1 }), image ? { image: jpeg, overlay: jpeg } : undefined));
  }
  const id = (...names: string[]) => names.map((n) => byName.get(n)!.id);
  store.reviews.record({ ids: id('d1', 'u1', 'o1', 'before'), decision: 'confirmed', user: 'ann' });
  store.reviews.record({ ids: id('d2', 'o2', 'e2'), decision: 'rejected', user: 'ann' });
  store.reviews.record({ ids: id('d3'), decision: 'relabeled', label: 'crack', user: 'bob' });
  store.reviews.record({ ids: id('u2'), decision: 'needs-expert', user: 'bob' });
  // Confirmed, then undone: unreviewed again.
  store.reviews.record({ ids: id('e1'), decision: 'confirmed', user: 'bob' });
  store.reviews.undo({ ids: id('e1'), user: 'bob' });

  await createUserStore({ db: store.db }).add({ name: 'olga', role: 'operator', password: PASSWORD });
  app = build();
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'olga', password: PASSWORD } });
  expect(login.statusCode).toBe(200);
  cookie = String(login.headers['set-cookie']).split(';')[0]!;
});

afterAll(async () => {
  await app?.close();
  store?.close();
  await cleanup();
});

const range = `from=${new Date(FROM).toISOString()}&to=${new Date(TO).toISOString()}`;

function parseCsv(text: string): { counts: Record<string, string>[]; defects: Record<string, string>[] } {
  const [countsBlock, defectsBlock] = text.split('\r\n\r\n');
  const table = (block: string) => {
    const [header, ...lines] = block.trim().split('\r\n');
    const keys = header!.split(',');
    return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i]!, v])));
  };
  return { counts: table(countsBlock!), defects: table(defectsBlock!) };
}

describe('GET /api/reports/shift.csv', () => {
  it('counts by camera and verdict, reviewed and unreviewed, and agreement, exactly', async () => {
    const res = await app.inject({ url: `/api/reports/shift.csv?${range}&top=3`, headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="shift-2026-01-05T0600-2026-01-05T1400.csv"');
    const { counts, defects } = parseCsv(res.body);
    const pick = (r: Record<string, string>) => [r.camera, ...['total', 'ok', 'uncertain', 'defect', 'reviewed', 'unreviewed', 'needs_expert', 'flagged_unreviewed', 'agreed', 'disagreed'].map((k) => Number(r[k])), r.agreement];
    expect(counts.map(pick)).toEqual([
      // cells: reviewed d1 d2 d3 u1 o1 o2 (u2 waits for an expert); agreed d1 d3 o2, disagreed d2 o1; flagged and unreviewed d4 u3.
      ['cells', 12, 5, 3, 4, 6, 6, 1, 2, 3, 2, '0.6000'],
      // dock: e1's verdict was undone; e2 rejected (a disagreement); flagged and unreviewed e1.
      ['dock', 4, 2, 0, 2, 1, 3, 0, 1, 0, 1, '0.0000'],
      ['all', 16, 7, 3, 6, 7, 9, 1, 3, 3, 3, '0.5000'],
    ]);
    expect(counts.every((r) => r.from === '2026-01-05T06:00:00.000Z' && r.to === '2026-01-05T14:00:00.000Z')).toBe(true);
    // The highest-scoring defects of the shift (not those before it or at its end), with their thumbnails.
    expect(defects.map((d) => [d.rank, d.inspection_id, d.score, d.review_label, d.thumbnail])).toEqual([
      ['1', byName.get('e1')!.id, '1.5', '', `/api/inspections/${byName.get('e1')!.id}/overlay`],
      ['2', byName.get('d2')!.id, '1.4', 'good', `/api/inspections/${byName.get('d2')!.id}/overlay`],
      ['3', byName.get('d3')!.id, '1.3', 'crack', `/api/inspections/${byName.get('d3')!.id}/overlay`],
    ]);
  });

  it('answers 401 without sign-in and 400 naming a bad time or range', async () => {
    expect((await app.inject({ url: `/api/reports/shift.csv?${range}` })).statusCode).toBe(401);
    expect((await app.inject({ url: `/reports/shift?${range}` })).statusCode).toBe(401);
    const bad = await app.inject({ url: '/api/reports/shift.csv?from=yesterday', headers: { cookie } });
    expect([bad.statusCode, bad.json<{ error: string }>().error]).toEqual([400, expect.stringMatching(/^querystring\/from: not a date or time .*yesterday/)]);
    const backwards = await app.inject({ url: `/api/reports/shift.csv?from=${TO}&to=${FROM}`, headers: { cookie } });
    expect([backwards.statusCode, backwards.json<{ error: string }>().error]).toEqual([400, 'querystring/from: must be before to']);
    // Epoch ms work as well as ISO times.
    const ms = await app.inject({ url: `/api/reports/shift.csv?from=${FROM}&to=${TO}`, headers: { cookie } });
    expect(parseCsv(ms.body).counts.at(-1)!.total).toBe('16');
  });
});

describe('GET /reports/shift in Chromium', () => {
  let browser: Browser;
  let url: string;
  beforeAll(async () => {
    browser = await launchBrowser();
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders the counts and the top defects with their stored thumbnails, and prints to PDF', async () => {
    const context = await browser.newContext();
    const [name, value] = cookie.split('=') as [string, string];
    await context.addCookies([{ name, value, url }]);
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => m.type() === 'error' && /Content Security Policy/.test(m.text()) && blocked.push(m.text()));
    const failed: string[] = [];
    // The browser's own favicon request is not the report's.
    page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && failed.push(`${r.status()} ${r.url()}`));
    const res = await page.goto(`${url}/reports/shift?${range}&top=4`);
    expect(res!.status()).toBe(200);
    await page.waitForLoadState('networkidle');

    const rows = await page.$$eval('table:first-of-type tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ['cells', '12', '5', '3', '4', '33.3 %', '6', '6', '2', '1', '60.0 %'],
      ['dock', '4', '2', '0', '2', '50.0 %', '1', '3', '1', '0', '0.0 %'],
      ['all cameras', '16', '7', '3', '6', '37.5 %', '7', '9', '3', '1', '50.0 %'],
    ]);
    // Four top defects: three with a stored overlay that loaded, d4 without an image.
    const figures = await page.$$eval('figure', (fs) =>
      fs.map((f) => ({ caption: f.querySelector('figcaption')!.textContent!, loaded: (f.querySelector('img') as HTMLImageElement | null)?.naturalWidth ?? 0, none: f.querySelector('.none') !== null })),
    );
    expect(figures.map((f) => [f.loaded > 0, f.none])).toEqual([
      [true, false],
      [true, false],
      [true, false],
      [false, true],
    ]);
    expect(figures[0]!.caption).toContain('dock · 2026-01-05 08:20 UTC');
    expect(figures[0]!.caption).toContain('score 1.500 · not reviewed');
    expect(figures[2]!.caption).toContain('reviewed: crack');
    // The page's own CSP lets its style and images through (no violations logged).
    expect(blocked).toEqual([]);
    expect(failed).toEqual([]);
    expect(await page.$eval('h1', (h) => getComputedStyle(h).fontSize)).toBe('22px');

    // Printed: the range form is hidden, and the PDF holds the report.
    await page.emulateMedia({ media: 'print' });
    expect(await page.$eval('form', (f) => getComputedStyle(f).display)).toBe('none');
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    // Thumbnails are embedded as images: the PDF is much larger than one of text alone.
    const empty = await context.newPage();
    await empty.goto(`${url}/reports/shift?from=${TO + 3600_000}&to=${TO + 7200_000}`);
    expect(await empty.textContent('.empty')).toBe('No defects in this range.');
    const textOnly = await empty.pdf({ format: 'A4' });
    expect(pdf.length).toBeGreaterThan(textOnly.length + 20_000);
    await context.close();
  });
});
