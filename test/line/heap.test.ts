import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createHeapRelease, inspectorCollect } from '../../src/line/heap.js';
import { captureLogger } from '../events/helpers.js';
import { memoryBreakdown } from '../helpers/memory.js';

const MB = 2 ** 20;

/** A release watcher on a heapTotal the test sets, counting the collects it asks for. */
function watcher(options: { slackMb?: number; minIntervalMs?: number; collect?: () => Promise<void> } = {}) {
  // heapUsed: what lives in the heap; unset, the heap is as full as V8 keeps it (20 MB of room).
  const state: { heapTotal: number; heapUsed?: number; now: number; collects: number } = { heapTotal: 60 * MB, now: 0, collects: 0 };
  const { log, lines } = captureLogger('info');
  const registry = new Registry();
  const heap = createHeapRelease({
    log,
    registry,
    heapTotal: () => state.heapTotal,
    heapUsed: () => state.heapUsed ?? state.heapTotal - 20 * MB,
    collect:
      options.collect ??
      (async () => {
        state.collects++;
        state.heapTotal = 50 * MB;
      }),
    slackBytes: (options.slackMb ?? 32) * MB,
    minIntervalMs: options.minIntervalMs ?? 300_000,
    now: () => state.now,
  });
  return { state, heap, lines, registry };
}

describe('heap release', () => {
  it('asks for a memory-reducing GC once the heap is well below its peak, not while it stays there', async () => {
    const { state, heap, lines, registry } = watcher();
    await heap.check();
    state.heapTotal = 170 * MB; // a peak
    await heap.check();
    await heap.check();
    expect(state.collects).toBe(0);
    state.heapTotal = 150 * MB; // 20 MB below it: within the slack
    await heap.check();
    expect(state.collects).toBe(0);
    state.heapTotal = 60 * MB; // 110 MB below it: those pages are pooled
    await heap.check();
    expect(state.collects).toBe(1);
    expect(heap.releases).toBe(1);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'released the V8 heap pages kept since a peak');
    expect(line).toMatchObject({ module: 'heap', why: 'peak', peakMb: 170, heapTotalMb: 60, afterMb: 50 });
    expect((await registry.getSingleMetric('visor_heap_releases_total')!.get()).values[0]!.value).toBe(1);
  });

  it('asks for one when the heap stays reserved far beyond what lives in it (a grown young generation)', async () => {
    const { state, heap, lines } = watcher();
    // 108 MB reserved for 44 MB: V8's usual room.
    state.heapTotal = 108 * MB;
    state.heapUsed = 44 * MB;
    await heap.check();
    expect(state.collects).toBe(0);
    // The young generation grew to its largest and stays there: 128 MB more than lives in it.
    state.heapTotal = 172 * MB;
    await heap.check();
    expect(state.collects).toBe(1);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'released the V8 heap reserved beyond what it holds');
    expect(line).toMatchObject({ why: 'reserve', heapTotalMb: 172, heapUsedMb: 44, afterMb: 50 });
  });

  it('releases at most once per interval, and measures the next peak from after the release', async () => {
    const { state, heap } = watcher({ minIntervalMs: 300_000 });
    const peakThenFall = async () => {
      state.heapTotal = 170 * MB;
      await heap.check();
      state.heapTotal = 60 * MB;
      await heap.check();
    };
    await peakThenFall();
    expect(state.collects).toBe(1);
    // A new peak and fall within the interval: not yet.
    state.now = 60_000;
    await peakThenFall();
    expect(state.collects).toBe(1);
    // Past the interval, the peak seen meanwhile still counts.
    state.now = 300_000;
    await heap.check();
    expect(state.collects).toBe(2);
    // After the release the peak starts again from the heap as it is then (50 MB): 60 is no fall.
    state.now = 900_000;
    state.heapTotal = 60 * MB;
    await heap.check();
    expect(state.collects).toBe(2);
  });

  it('a collect that cannot work is logged once and not tried again', async () => {
    let tries = 0;
    const { state, heap, lines } = watcher({
      minIntervalMs: 0,
      collect: async () => {
        tries++;
        throw new Error('inspector is not available');
      },
    });
    for (let i = 0; i < 3; i++) {
      state.heapTotal = 170 * MB;
      await heap.check();
      state.heapTotal = 60 * MB;
      await heap.check();
    }
    expect(tries).toBe(1);
    expect(heap.releases).toBe(0);
    expect(lines.filter((l) => l.includes('cannot ask V8 for a memory-reducing GC'))).toHaveLength(1);
  });

  it.runIf(process.platform === 'linux')('the default collect gives back the pages V8 kept after a heap peak', async () => {
    // A peak of ~150 MB of short-lived objects, then garbage: whatever V8 does by itself meanwhile
    // (it shrinks its heap after a major GC, the freed pages stay resident in its pool), the
    // pages of the peak must be gone after the collect. A regular major GC leaves most of them.
    let peak: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) peak.push({ i, s: `x${i}` });
    const atPeak = memoryBreakdown()!.smapsMb.v8Pages;
    expect(atPeak).toBeGreaterThan(100);
    peak = [];
    for (let round = 0; round < 5; round++) {
      let churn: unknown[] = [];
      for (let i = 0; i < 2_000_000; i++) {
        churn.push({ i });
        if (churn.length > 1000) churn = [];
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    // The churn grew the young generation too; the collect shrinks it (the 'reserve' release).
    const young = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size;
    const youngBefore = young();
    expect(youngBefore).toBeGreaterThan(16 * MB);
    await inspectorCollect()();
    expect(memoryBreakdown()!.smapsMb.v8Pages).toBeLessThan(atPeak * 0.4);
    expect(young()).toBeLessThan(youngBefore / 4);
  });
});
