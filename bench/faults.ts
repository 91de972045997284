// Issue 16 items 1–3 and 5 end to end, each on the whole app, printing the figures:
//  1. secrets in all output: runs bench/secrets.ts and reads its count (goal 0);
//  2. a full disk: the data dir on a 5 MB tmpfs (needs root to mount), a folder camera keeping
//     every image; verdicts lost (goal 0) and images shed, each counted and named on its row;
//  3. a stalled hub: the fake IoT hub behind a TCP proxy that stops passing bytes without
//     closing; seconds until /healthz shows it (goal ≤ 60 s with the default ackTimeoutSeconds)
//     and events lost once it passes bytes again (goal 0);
//  5. a huge image: a 12000×12000 PNG among the cells of a folder camera; RSS and stored
//     inspections per second against the same folder without it.
//   npx tsx bench/faults.ts [--seconds 15] [--ack-timeout 30] [--only disk,stall,huge,secrets]
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { createApp, type App } from '../src/app.js';
import { silentLogger } from '../src/common/log.js';
import { parseConfig } from '../src/config/index.js';
import type { EventsExtension } from '../src/events/index.js';
import { newKey, startFakeHub } from '../test/events/fake-hub.js';
import { startStallProxy } from '../test/events/stall-proxy.js';
import { tempDir } from '../test/helpers/temp.js';
import { until } from '../test/helpers/wait.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(REPO, 'test/fixtures/elpv');
const MODEL = path.join(REPO, 'models/elpv-cells');
const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : fallback);
const SECONDS = Number(arg('--seconds', '15'));
const ACK_TIMEOUT = Number(arg('--ack-timeout', '30'));
const ONLY = new Set(arg('--only', 'secrets,disk,stall,huge').split(','));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = silentLogger();

const cells = (await readdir(FIXTURES)).filter((f) => f.endsWith('.png')).map((f) => path.join(FIXTURES, f));

function camera(id: string, source: string, extra: Record<string, unknown> = {}) {
  return { id, source, fps: 20, loop: true, ...extra };
}

async function runApp(config: unknown, baseDir: string, body: (app: App) => Promise<void>): Promise<void> {
  const app = await createApp({ config: parseConfig(config), baseDir, log });
  await app.start();
  try {
    await body(app);
  } finally {
    await app.stop();
  }
}

async function metricSum(app: App, name: string): Promise<number> {
  const text = await app.metrics.registry.metrics();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))) total += Number(m[1]);
  return total;
}

async function secretsFigure(): Promise<void> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench/secrets.ts'), '--seconds', '6'], { cwd: REPO }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const found = /secrets found in all output: (\d+)/.exec(stdout)?.[1];
  console.log(`1. secrets found in all output (bench/secrets.ts): ${found ?? `unknown (output: ${stdout.trim().split('\n').at(-1)})`} (goal 0)`);
}

async function fullDiskFigure(): Promise<void> {
  const { dir, cleanup } = await tempDir('visor-faults-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=5m', 'visor-faults', dir], { stdio: 'pipe' });
  } catch (err) {
    console.log(`2. full disk: skipped, cannot mount a 5 MB tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`);
    await cleanup();
    return;
  }
  try {
    const config = {
      cameras: [camera('cells', FIXTURES, { fullResolution: true })],
      model: { package: MODEL },
      store: { dataDir: path.join(dir, 'data'), okSampleFraction: 1 },
      review: { enabled: false },
    };
    let made = 0;
    await runApp(config, dir, async (app) => {
      app.bus.on('inspection', () => undefined);
      await sleep(SECONDS * 1000);
      const failures = await metricSum(app, 'visor_inspection_failures_total');
      const stored = await metricSum(app, 'visor_inspections_total');
      made = stored + failures;
      const shed = await metricSum(app, 'visor_images_shed_total');
      const rows = app.store.db.prepare<[], { n: number; shed: number; withImage: number }>(
        'SELECT COUNT(*) AS n, SUM(image_shed IS NOT NULL) AS shed, SUM(image_path IS NOT NULL) AS withImage FROM inspections',
      ).get()!;
      const disk = app.store.disk.status();
      const health = app.health.report().store!;
      console.log(`2. full disk (5 MB tmpfs, ${SECONDS} s, every image kept): ${made} frames inspected, ${rows.n} verdicts stored, ${failures} verdicts lost (goal 0)`);
      console.log(`   images shed under pressure: ${shed} (visor_images_shed_total), rows naming why their image is missing: ${rows.shed}, rows with an image: ${rows.withImage}`);
      console.log(`   disk at the end: ${disk.level}, ${(disk.freeBytes / 1024).toFixed(0)} kB free; store health ok=${String(health.ok)}: ${String(health.reason ?? '')}`);
      console.log(`   database integrity: ${String(app.store.db.pragma('integrity_check', { simple: true }))}`);
    });
  } finally {
    execFileSync('umount', [dir]);
    await cleanup();
  }
}

async function stalledHubFigure(): Promise<void> {
  const { dir, cleanup } = await tempDir('visor-faults-hub-');
  const hub = await startFakeHub({ identities: { dev1: newKey() } });
  const proxy = await startStallProxy(hub.port);
  try {
    const ca = path.join(dir, 'hub-ca.pem');
    await writeFile(ca, hub.ca);
    const config = {
      cameras: [camera('cells', FIXTURES, { fps: 5, fullResolution: false })],
      // Every frame a defect: events flow all the time.
      model: { package: MODEL, thresholds: { defect: 0 } },
      store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
      review: { enabled: false },
      events: { connectionString: hub.connectionString('dev1').replace(/:\d+$/, `:${proxy.port}`), caFile: ca, ackTimeoutSeconds: ACK_TIMEOUT, backoffInitialMs: 500, backoffMaxMs: 5000 },
    };
    await runApp(config, dir, async (app) => {
      const events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
      await until('connected', () => events.status().connection.state === 'connected', 30_000);
      await until('events delivered', () => hub.telemetry.length >= 3, 30_000);
      const ids: string[] = [];
      app.bus.on('inspection', ({ inspection }) => ids.push(inspection.id));
      proxy.stall();
      const stalledAt = Date.now();
      const report = await until('health shows the stall', () => (app.health.report().events!.ok ? undefined : app.health.report().events), 600_000, 100);
      const seconds = (Date.now() - stalledAt) / 1000;
      const outboxAtDetection = events.status().outbox.depth;
      await sleep(2000);
      proxy.unstall();
      const unstalledAt = Date.now();
      const made = [...ids];
      await until('all delivered', () => made.every((id) => hub.telemetry.some((m) => m.messageId === id)), 300_000, 100);
      const lost = made.filter((id) => !hub.telemetry.some((m) => m.messageId === id)).length;
      console.log(`3. stalled hub (bytes held, no RST; ackTimeoutSeconds ${ACK_TIMEOUT}): health showed it after ${seconds.toFixed(1)} s (goal ≤ 60 s): ${String(report.reason)}`);
      console.log(`   outbox at detection: ${outboxAtDetection}; after the link passed bytes again: ${made.length} events of the stall delivered in ${((Date.now() - unstalledAt) / 1000).toFixed(1)} s, ${lost} lost (goal 0)`);
    });
  } finally {
    await proxy.close();
    await hub.close();
    await cleanup();
  }
}

async function hugeImageFigure(): Promise<void> {
  const { dir, cleanup } = await tempDir('visor-faults-huge-');
  try {
    const plain = path.join(dir, 'plain');
    const withHuge = path.join(dir, 'huge');
    for (const folder of [plain, withHuge]) {
      await mkdir(folder);
      for (const c of cells) await copyFile(c, path.join(folder, path.basename(c)));
    }
    await sharp({ create: { width: 12000, height: 12000, channels: 3, background: { r: 40, g: 40, b: 40 } } })
      .png({ compressionLevel: 1 })
      .toFile(path.join(withHuge, 'cell0000_huge.png'));
    const hugeMb = fs.statSync(path.join(withHuge, 'cell0000_huge.png')).size / 1024 / 1024;
    for (const [label, folder] of [['without the huge image', plain], [`with a 12000×12000 PNG (${hugeMb.toFixed(1)} MB)`, withHuge]] as const) {
      const config = {
        cameras: [camera('cells', folder, { fullResolution: true })],
        model: { package: MODEL },
        store: { dataDir: path.join(dir, `data-${path.basename(folder)}`), okSampleFraction: 1 },
        review: { enabled: false },
      };
      await runApp(config, dir, async (app) => {
        let peak = process.memoryUsage().rss;
        const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
        const started = Date.now();
        await sleep(SECONDS * 1000);
        clearInterval(timer);
        const stored = await metricSum(app, 'visor_inspections_total');
        const oversized = app.cameras[0]!.status().framesOversized ?? 0;
        console.log(
          `5. huge image, ${label}: ${(stored / ((Date.now() - started) / 1000)).toFixed(1)} inspections stored/s, peak RSS ${(peak / 1024 / 1024).toFixed(0)} MB, skipped as oversized ${oversized}`,
        );
      });
    }
  } finally {
    await cleanup();
  }
}

console.log(`faults bench: ${SECONDS} s per run (${new Date().toISOString()})`);
if (ONLY.has('secrets')) await secretsFigure();
if (ONLY.has('disk')) await fullDiskFigure();
if (ONLY.has('stall')) await stalledHubFigure();
if (ONLY.has('huge')) await hugeImageFigure();
