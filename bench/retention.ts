// Retention over a data dir that holds N images (issue 22: a 9.5-s event-loop stall in
// 30-minute soaks): how long each pass takes and the longest the main thread was held up
// meanwhile (monitorEventLoopDelay, 10 ms resolution, and the largest gap between the ticks of
// a 5-ms interval). Per N: 2 s with nothing running (the floor: the cores are shared), the
// periodic pass when nothing is due (the orphan sweep over every file, 1% of them orphans),
// 200 saves at a full quota (each evicts the oldest image), the age pass with half the rows
// past retentionDays, and reopening with a quota that keeps a quarter of what is left.
// Run: npx tsx bench/retention.ts [10000,50000,100000]
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { newId } from '../src/common/ids.js';
import { silentLogger } from '../src/common/log.js';
import { openStore, type Store } from '../src/store/index.js';
import { makeInspection } from '../test/helpers/inspection.js';
import { fillStore, noiseJpeg, storeConfig, tempDir } from '../test/store/helpers.js';
import { threadTimes } from '../test/helpers/thread-times.js';

const counts = (process.argv[2] ?? '10000,50000,100000').split(',').map(Number);
const MINUTE = 60_000;
const DAY = 86_400_000;
const image = await noiseJpeg(64, 64, 3);

interface Watched<T> {
  result: T;
  ms: number;
  pauseMs: number;
  /** Of the longest gap between ticks: the main thread on a core, and waiting for one; the rest it was blocked (the disk). */
  gap: { ms: number; cpu: number; queued: number };
  /** The most time on a core between two ticks: how long the main thread was kept busy, whatever the load. */
  busyMs: number;
}

/** Runs `work` while watching the event loop; returns its duration, the longest pause, and what the main thread did in the longest tick gap. */
async function watched<T>(work: () => Promise<T> | T): Promise<Watched<T>> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  let last = performance.now();
  let lastTimes = threadTimes();
  const gap = { ms: 0, cpu: 0, queued: 0 };
  let busyMs = 0;
  const ticker = setInterval(() => {
    const t = performance.now();
    const times = threadTimes();
    busyMs = Math.max(busyMs, times.cpu - lastTimes.cpu);
    if (t - last > gap.ms) Object.assign(gap, { ms: t - last, cpu: times.cpu - lastTimes.cpu, queued: times.queued - lastTimes.queued });
    last = t;
    lastTimes = times;
  }, 5);
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, 20));
  last = performance.now();
  lastTimes = threadTimes();
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 20)); // the tick after a blocking pass counts its gap
  clearInterval(ticker);
  histogram.disable();
  return { result, ms, pauseMs: Math.max(gap.ms, histogram.max / 1e6), gap, busyMs };
}

const ms = (x: number): string => x.toFixed(0).padStart(5);
const print = (n: number, pass: string, w: Watched<unknown>): void =>
  console.log(
    `N=${n} ${pass.padEnd(6)} ${(w.ms / 1000).toFixed(2).padStart(6)} s  longest pause ${ms(w.pauseMs)} ms, busiest ${ms(w.busyMs)} ms on a core ` +
      `(longest tick gap ${ms(w.gap.ms)} ms: on a core ${ms(w.gap.cpu)}, waiting for one ${ms(w.gap.queued)}, blocked ${ms(w.gap.ms - w.gap.cpu - w.gap.queued)})  ${JSON.stringify(w.result)}`,
  );

for (const n of counts) {
  const tmp = await tempDir('visor-bench-retention-');
  let offset = 2 * MINUTE; // the store's clock: files written now are past ORPHAN_GRACE_MS
  const now = (): number => Date.now() + offset;
  const open = (maxDiskMb: number): Store =>
    openStore({ config: storeConfig({ retentionDays: 1, maxDiskMb, retentionIntervalSeconds: 86_400 }), dataDir: tmp.dir, log: silentLogger(), now });
  try {
    let store = open(100_000);
    await store.retentionIdle?.(); // the pass at open, over an empty dir (?.: the same script measured the synchronous retention before)
    const filled = performance.now();
    const paths = fillStore(store, { count: n, image, from: Date.now() - 30 * MINUTE, stepMs: (30 * MINUTE) / n });
    for (let i = 0; i < n / 100; i++) {
      const dir = path.dirname(path.join(tmp.dir, ...paths[i * 100]!.split('/')));
      fs.writeFileSync(path.join(dir, `${newId()}.jpg`), image);
    }
    console.log(`N=${n}: filled in ${((performance.now() - filled) / 1000).toFixed(1)} s (${n} rows and images, ${n / 100} orphans)`);

    // What the machine does to the main thread anyway (the cores are shared): the floor for the pauses below.
    print(n, 'idle', await watched(() => new Promise((resolve) => setTimeout(() => resolve('nothing running'), 2000))));
    print(n, 'sweep', await watched(() => store.runRetention()));

    // Saves at a full quota: each takes the oldest image; the main thread's time on a core per save.
    const held = store.stats().imageBytes;
    await store.close();
    store = open(held / 1024 / 1024);
    await store.retentionIdle?.();
    const saves = 200;
    const cpuBefore = threadTimes().cpu;
    const savesStarted = performance.now();
    for (let i = 0; i < saves; i++) store.save(makeInspection({ cameraId: 'cam-1', frameSeq: n + i }), { image });
    const cpuPerSave = (threadTimes().cpu - cpuBefore) / saves;
    console.log(`N=${n} save   ${saves} saves at a full quota: ${((performance.now() - savesStarted) / saves).toFixed(1)} ms each, ${cpuPerSave.toFixed(2)} ms of it on a core  ${JSON.stringify(store.stats().retention)}`);

    offset = DAY - 15 * MINUTE; // half the rows are now older than retentionDays
    print(n, 'age', await watched(() => store.runRetention()));
    const left = store.stats().imageBytes;
    await store.close();
    print(
      n,
      'quota',
      await watched(async () => {
        store = open(left / 4 / 1024 / 1024);
        await store.retentionIdle?.();
        return store.stats().retention;
      }),
    );
    await store.close();
  } finally {
    await tmp.cleanup();
  }
}
