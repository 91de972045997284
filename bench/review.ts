// Review UI figures with 100,000 inspections stored: queue page load and filter response
// times (API and in the browser), the line board's answer time (a day-long shift: every row of
// the last 24 h counted), and time from an inspection stored to visible in an open queue and
// on an open board (p50/p99). Run: npx tsx bench/review.ts [count]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus } from '../src/line/bus.js';
import { parseConfig } from '../src/config/index.js';
import { newId } from '../src/common/ids.js';
import { silentLogger } from '../src/common/log.js';
import { createMetrics } from '../src/line/metrics.js';
import { buildReviewServer, createUserStore } from '../src/review/index.js';
import { openStore } from '../src/store/index.js';
import type { Verdict } from '../src/common/types.js';
import { launchBrowser } from '../test/helpers/browser.js';
import { makeInspection } from '../test/helpers/inspection.js';
import { ensureUiBuilt } from '../test/review/ui-build.js';

const COUNT = Number(process.argv[2] ?? 100_000);

function quantiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `p50 ${q(0.5)} ms, p99 ${q(0.99)} ms (n=${s.length})`;
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'visor-bench-review-'));
const cameras = ['cells', 'dock', 'press', 'line-b'];
const store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
try {
  // Fill: one transaction with the store's own insert shape (save() syncs every commit; 100k fsyncs would time the disk, not the UI).
  const t0 = Date.now() - COUNT * 1000;
  const insert = store.db.prepare(`INSERT INTO inspections (id, camera_id, frame_seq, captured_at, inferred_at, decided_at, verdict, score, model_name, model_version, model_task, thresholds, timings)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'elpv-cells', ?, 'anomaly', '{"defect":1,"uncertainBand":0.1}', '{"queueMs":1,"preprocessMs":2,"inferenceMs":5,"postprocessMs":1}')`);
  const fillStarted = performance.now();
  store.db.transaction(() => {
    for (let i = 0; i < COUNT; i++) {
      const score = Math.random() * 1.3;
      const verdict: Verdict = score >= 1 ? 'defect' : score >= 0.9 ? 'uncertain' : 'ok';
      const at = t0 + i * 1000;
      insert.run(newId(at), cameras[i % cameras.length], i, at, at + 5, at + 6, verdict, score, i < COUNT / 2 ? '0.1.0' : '0.2.0');
    }
  })();
  const flagged = store.db.prepare("SELECT COUNT(*) FROM inspections WHERE verdict <> 'ok'").pluck().get() as number;
  console.log(`stored ${COUNT} inspections (${flagged} flagged) in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);
  // Some reviews, so the review-state filters have work to do.
  const some = store.db.prepare("SELECT id FROM inspections WHERE verdict <> 'ok' ORDER BY id DESC LIMIT 2000").pluck().all() as string[];
  const users = createUserStore({ db: store.db });
  await users.add({ name: 'bench', role: 'admin', password: 'bench-password' });

  const bus = createBus(silentLogger());
  const app = buildReviewServer({
    store,
    bus,
    config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).review,
    cameras: () => cameras.map((cameraId) => ({ cameraId, state: 'online' as const, framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 0 })),
    model: () => ({ name: 'elpv-cells', version: '0.2.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
    uiDir: await ensureUiBuilt(),
    log: silentLogger(),
  });
  const { token } = users.createToken('bench', 'bench');
  const auth = { authorization: `Bearer ${token}` };
  await app.inject({ method: 'POST', url: '/api/reviews', headers: auth, payload: { ids: some.slice(0, 500), decision: 'confirmed' } });
  await app.inject({ method: 'POST', url: '/api/reviews', headers: auth, payload: { ids: some.slice(500, 1000), decision: 'rejected' } });

  const mid = t0 + (COUNT / 2) * 1000;
  const queries: [string, string][] = [
    ['queue first page (flagged, 50)', 'verdict=flagged&limit=50'],
    ['camera', 'verdict=flagged&camera=press'],
    ['score range below threshold', 'verdict=flagged&minScore=0.9&maxScore=0.95'],
    ['near misses (all verdicts, 0.85–0.9)', 'verdict=all&minScore=0.85&maxScore=0.9'],
    ['unreviewed', 'verdict=flagged&review=unreviewed'],
    ['confirmed', 'verdict=flagged&review=confirmed'],
    ['model version', 'verdict=flagged&model=0.1.0'],
    ['time range (1 h, mid-store)', `verdict=flagged&from=${mid}&to=${mid + 3600_000}`],
    ['camera + score + unreviewed', 'verdict=flagged&camera=dock&minScore=1.2&review=unreviewed'],
    ['page 100 deep (keyset)', ''],
  ];
  // A cursor 100 pages deep.
  let before: string | undefined;
  for (let p = 0; p < 100; p++) {
    const res = await app.inject({ url: `/api/inspections?verdict=flagged&limit=50${before ? `&before=${before}` : ''}`, headers: auth });
    before = res.json<{ next?: string }>().next;
  }
  queries[queries.length - 1]![1] = `verdict=flagged&limit=50&before=${before}`;
  console.log('\nAPI response time (server, inject), 30 runs each:');
  for (const [label, q] of queries) {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const res = await app.inject({ url: `/api/inspections?${q}`, headers: auth });
      times.push(performance.now() - started);
      items = res.json<{ items: unknown[] }>().items.length;
    }
    console.log(`  ${label.padEnd(40)} ${quantiles(times)}  → ${items} items`);
  }

  // The board counts the shift by id range: the longer the shift, the more rows each refresh reads.
  const dayShift = buildReviewServer({
    store,
    bus: createBus(silentLogger()),
    config: parseConfig({ cameras: [{ id: 'x', source: 'x' }], review: { shifts: ['00:00'] } }).review,
    cameras: () => cameras.map((cameraId) => ({ cameraId, state: 'online' as const, framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 0 })),
    model: () => ({ name: 'elpv-cells', version: '0.2.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
    log: silentLogger(),
    uiDir: await ensureUiBuilt(),
  });
  for (const [label, server] of [
    ['line board, 8-hour shifts (default)', app],
    ['line board, one 24-hour shift', dayShift],
  ] as const) {
    const times: number[] = [];
    let counted = 0;
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const res = await server.inject({ url: '/api/board', headers: auth });
      times.push(performance.now() - started);
      counted = res.json<{ cameras: { shift: Record<Verdict, number> }[] }>().cameras.reduce((n, c) => n + c.shift.ok + c.shift.uncertain + c.shift.defect, 0);
    }
    console.log(`  ${label.padEnd(40)} ${quantiles(times)}  → ${counted} inspections in the shift`);
  }
  await dayShift.close();

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    await page.fill('input[name=name]', 'bench');
    await page.fill('input[name=password]', 'bench-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('figure.card');

    const loads: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await page.reload();
      await page.waitForSelector('figure.card');
      loads.push(performance.now() - started);
    }
    console.log(`\nqueue page load in Chromium (reload → first 50 cards rendered): ${quantiles(loads)}`);

    const filters: number[] = [];
    for (let i = 0; i < 10; i++) {
      const camera = cameras[i % cameras.length]!;
      const started = performance.now();
      await page.selectOption('select[name=camera]', camera);
      await page.waitForFunction((c) => {
        const cards = Array.from(document.querySelectorAll('figure.card .meta'));
        return cards.length > 0 && cards.every((e) => e.textContent!.startsWith(`${c} `));
      }, camera);
      filters.push(performance.now() - started);
    }
    console.log(`filter change in Chromium (camera select → list re-rendered): ${quantiles(filters)}`);
    await page.selectOption('select[name=camera]', '');
    await page.waitForSelector('figure.card');

    const visible: number[] = [];
    for (let i = 0; i < 40; i++) {
      const stored = store.save(makeInspection({ frameSeq: COUNT + i, model: { name: 'elpv-cells', version: '0.2.0', task: 'anomaly' } }));
      const storedAt = performance.now();
      bus.emit('inspection', { inspection: stored, frame: undefined as never, output: { score: 1.2 }, storedAt: Date.now(), requested: false });
      await page.waitForSelector(`figure.card[data-id="${stored.id}"]`, { timeout: 10_000 });
      visible.push(performance.now() - storedAt);
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(`inspection stored → visible in the open queue: ${quantiles(visible)}`);

    await page.goto(`${url}/#/board`);
    await page.waitForSelector('.board-tile[data-camera="cells"]');
    const onBoard: number[] = [];
    const defects = () => page.textContent('.board-tile[data-camera="cells"] .counts.big .count.defect b');
    for (let i = 0; i < 20; i++) {
      const before = await defects();
      const stored = store.save(makeInspection({ frameSeq: COUNT + 100 + i, model: { name: 'elpv-cells', version: '0.2.0', task: 'anomaly' } }));
      const storedAt = performance.now();
      bus.emit('inspection', { inspection: stored, frame: undefined as never, output: { score: 1.2 }, storedAt: Date.now(), requested: false });
      await page.waitForFunction(([b]) => document.querySelector('.board-tile[data-camera="cells"] .counts.big .count.defect b')?.textContent !== b, [before], { timeout: 10_000 });
      onBoard.push(performance.now() - storedAt);
      // Past the board's once-a-second refresh limit, so each figure is one refresh.
      await new Promise((r) => setTimeout(r, 1100));
    }
    console.log(`inspection stored → counted on the open line board: ${quantiles(onBoard)}`);
  } finally {
    await browser.close();
    await app.close();
  }
} finally {
  store.close();
  await rm(dir, { recursive: true, force: true });
}
