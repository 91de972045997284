// Retention of part inspections (src/stations): old parts go with their views, in steps with the
// event loop free between them, and newer parts stay.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { PRUNE_STEP, createParts, pruneParts, type Parts } from '../../src/store/parts.js';
import { DAY_MS, makeInspection, storeConfig, tempDir } from './helpers.js';

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;

afterEach(async () => {
  store?.close();
  store = undefined;
  await cleanup?.();
});

async function partsWith(old: number, recent: number, now: number): Promise<Parts> {
  const t = await tempDir('visor-parts-');
  cleanup = t.cleanup;
  store = openStore({ config: storeConfig(), dataDir: t.dir, log: silentLogger() });
  const parts = createParts(store.db);
  const add = store.db.transaction((n: number, from: number) => {
    for (let i = 0; i < n; i++) {
      const triggeredAt = from + i;
      const row = parts.begin({ partId: `p${from + i}`, stationId: 'st1', source: 'http', triggeredAt, deadlineAt: triggeredAt + 500, recipe: null });
      const inspection = makeInspection({ cameraId: 'cam-1', capturedAt: triggeredAt });
      store!.save(inspection);
      parts.addView(row, { cameraId: 'cam-1', inspectionId: inspection.id });
    }
  });
  add(old, now - 10 * DAY_MS);
  add(recent, now - 1000);
  return parts;
}

const count = (table: string): number => (store!.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('pruning old parts', () => {
  it('deletes every part before the cut-off with its views, in steps, and keeps the newer ones', async () => {
    const now = Date.now();
    const parts = await partsWith(2 * PRUNE_STEP + 200, 10, now);
    const steps: number[] = [];
    const stepped: Parts = {
      ...parts,
      prune: (before, limit) => {
        const n = parts.prune(before, limit);
        steps.push(n);
        return n;
      },
    };
    // A timer due now runs between the steps, not after the whole pass.
    let ticked = -1;
    setImmediate(() => (ticked = steps.length));
    expect(await pruneParts(stepped, now - DAY_MS)).toBe(2 * PRUNE_STEP + 200);
    expect(steps).toEqual([PRUNE_STEP, PRUNE_STEP, 200]);
    expect(ticked).toBeGreaterThan(0);
    expect(ticked).toBeLessThan(steps.length);
    expect(count('parts')).toBe(10);
    expect(count('part_views')).toBe(10);
    expect(parts.list({ limit: 100 }).every((p) => p.triggeredAt >= now - 1000)).toBe(true);
  });

  it('takes no further step once asked to stop', async () => {
    const now = Date.now();
    const parts = await partsWith(3 * PRUNE_STEP, 0, now);
    const stop = new AbortController();
    const pass = pruneParts(parts, now - DAY_MS, stop.signal);
    stop.abort();
    expect(await pass).toBe(PRUNE_STEP);
    expect(count('parts')).toBe(2 * PRUNE_STEP);
  });
});
