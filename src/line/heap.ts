// Gives back the memory of V8 heap peaks on a busy line. When the heap shrinks after a peak,
// V8 keeps the freed 256 KiB pages in a pool, still resident, until a memory-reducing GC, and
// it schedules one of those only when the process allocates slowly: on a saturated line, never.
// So RSS climbed to the largest heap the process ever had and stayed there (README,
// Performance: the soak). And V8 grows its young generation to 128 MB on a process that
// allocates fast (a line handing frames to workers does), however little of it lives: in a
// soak with 44 MB live, the heap it reserved went 108 → 172 MB and stayed. This watches V8's
// reserved heap and asks V8 for a memory-reducing GC (what it would do itself when idle) once
// the reserve is well below its peak since the last release (the pages in between are pooled),
// or far above what lives in it; a memory-reducing GC shrinks the young generation as well.
import { Session } from 'node:inspector/promises';
import v8 from 'node:v8';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../common/log.js';

/** Heap reserved by V8 (heapTotal) at least this far below its peak: the pages in between are pooled. */
export const RELEASE_SLACK_BYTES = 32 * 2 ** 20;
/** Heap reserved (heapTotal) at least this far above what lives in it (heapUsed): most of it is an empty young generation. */
export const RELEASE_RESERVE_BYTES = 96 * 2 ** 20;
/** At most one release this often: each is a full GC on the main thread (~0.1-0.3 s). */
export const RELEASE_MIN_INTERVAL_MS = 5 * 60_000;
/** How often heapTotal is read (a peak lasts at least until the next full GC, seconds). */
const SAMPLE_MS = 1000;

export interface HeapReleaseDeps {
  log: Logger;
  registry?: Registry;
  /** Bytes V8 reserves for its heap now (default: v8.getHeapStatistics().total_heap_size). */
  heapTotal?: () => number;
  /** Bytes of it in use now (default: v8.getHeapStatistics().used_heap_size). */
  heapUsed?: () => number;
  /** A memory-reducing GC: releases the pooled pages (default: the inspector's HeapProfiler.collectGarbage). */
  collect?: () => Promise<void>;
  slackBytes?: number;
  reserveBytes?: number;
  minIntervalMs?: number;
  sampleMs?: number;
  now?: () => number;
}

export interface HeapRelease {
  start(): void;
  stop(): Promise<void>;
  /** Releases done so far. */
  readonly releases: number;
  /** Reads the heap once and releases if due (what the timer calls; exposed for tests). */
  check(): Promise<void>;
}

/**
 * A memory-reducing GC through the in-process inspector (no port is opened, no flag needed):
 * V8 collects with "reduce memory footprint" and frees its page pool. A regular `gc()` does not.
 */
export function inspectorCollect(): () => Promise<void> {
  let session: Session | undefined;
  return async () => {
    if (!session) {
      session = new Session();
      session.connect();
    }
    await session.post('HeapProfiler.collectGarbage');
  };
}

export function createHeapRelease(deps: HeapReleaseDeps): HeapRelease {
  const log = deps.log.child({ module: 'heap' });
  const heapTotal = deps.heapTotal ?? (() => v8.getHeapStatistics().total_heap_size);
  const heapUsed = deps.heapUsed ?? (() => v8.getHeapStatistics().used_heap_size);
  const collect = deps.collect ?? inspectorCollect();
  const slack = deps.slackBytes ?? RELEASE_SLACK_BYTES;
  const reserve = deps.reserveBytes ?? RELEASE_RESERVE_BYTES;
  const minInterval = deps.minIntervalMs ?? RELEASE_MIN_INTERVAL_MS;
  const now = deps.now ?? Date.now;
  const counter = deps.registry
    ? new Counter({ name: 'visor_heap_releases_total', help: 'Memory-reducing GCs asked of V8 to free the pages it kept after a heap peak.', registers: [deps.registry] })
    : undefined;

  let peak = 0;
  let lastAt = -Infinity;
  let releases = 0;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failed = false;

  async function release(why: 'peak' | 'reserve', peakBytes: number, currentBytes: number, usedBytes: number): Promise<void> {
    const t0 = performance.now();
    try {
      await collect();
    } catch (err) {
      // Without the inspector (a Node build without it) this never works: say so once, stop trying.
      if (!failed) log.warn({ err }, 'cannot ask V8 for a memory-reducing GC; heap peaks stay resident');
      failed = true;
      return;
    }
    releases++;
    counter?.inc();
    const mb = (x: number) => Number((x / 2 ** 20).toFixed(1));
    log.info(
      { why, peakMb: mb(peakBytes), heapTotalMb: mb(currentBytes), heapUsedMb: mb(usedBytes), afterMb: mb(heapTotal()), ms: Math.round(performance.now() - t0) },
      why === 'peak' ? 'released the V8 heap pages kept since a peak' : 'released the V8 heap reserved beyond what it holds',
    );
  }

  async function check(): Promise<void> {
    if (running || failed) return;
    const current = heapTotal();
    const used = heapUsed();
    peak = Math.max(peak, current);
    const why = peak - current >= slack ? 'peak' : current - used >= reserve ? 'reserve' : undefined;
    if (!why || now() - lastAt < minInterval) return;
    lastAt = now();
    const peakBytes = peak;
    running = release(why, peakBytes, current, used).finally(() => {
      running = undefined;
      peak = heapTotal();
    });
    await running;
  }

  return {
    start() {
      timer = setInterval(() => void check(), deps.sampleMs ?? SAMPLE_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    get releases() {
      return releases;
    },
    check,
  };
}
