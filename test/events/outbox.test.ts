// Outbox bounds: what is dropped is counted, persistently, and the rest keeps its order.
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { createOutbox } from '../../src/events/outbox.js';
import { silentLogger } from '../../src/common/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { Inspection, Verdict } from '../../src/common/types.js';
import { makeInspection } from '../helpers/inspection.js';
import { tempDir } from './helpers.js';

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
});

function inspection(verdict: Verdict, at: number): Inspection {
  return makeInspection({ verdict, cameraId: 'a', frameSeq: at, capturedAt: at, score: 1 });
}

async function open() {
  const t = await tempDir('visor-outbox-');
  cleanup = t.cleanup;
  const config = parseConfig({ cameras: [{ id: 'a', source: 'x' }] });
  return (store = openStore({ config: config.store, dataDir: path.join(t.dir, 'data'), log: silentLogger() }));
}

it('keeps defects (and uncertain only when asked), drops the oldest beyond the count bound and counts them', async () => {
  const s = await open();
  let now = 1_000_000;
  let sendUncertain = false;
  const drops: string[] = [];
  const outbox = createOutbox({ db: s.db, maxMessages: 3, maxAgeMs: 60_000, sendUncertain: () => sendUncertain, now: () => now, onDrop: (r, n) => drops.push(`${r}:${n}`) });
  s.onSave((i) => outbox.enqueue(i));
  const saved = [s.save(inspection('defect', 1)), s.save(inspection('ok', 2)), s.save(inspection('uncertain', 3))];
  expect(outbox.pending(0, 10).map((r) => r.inspection_id)).toEqual([saved[0]!.id]);
  sendUncertain = true;
  const more = [4, 5, 6].map((t) => s.save(inspection(t === 5 ? 'uncertain' : 'defect', t)));
  // Bound 3 with 4 queued: the oldest went.
  expect(outbox.pending(0, 10).map((r) => [r.inspection_id, r.event_type])).toEqual(more.map((i) => [i.id, i.verdict]));
  expect(outbox.dropped()).toEqual({ overflow: 1, age: 0 });
  expect(drops).toEqual(['overflow:1']);

  now += 61_000;
  expect(outbox.prune()).toBe(3);
  expect(outbox.depth()).toBe(0);
  // Counts survive a restart (they are in SQLite).
  const again = createOutbox({ db: s.db, maxMessages: 3, maxAgeMs: 60_000, sendUncertain: () => false });
  expect(again.dropped()).toEqual({ overflow: 1, age: 3 });
});

it('a failed save leaves no outbox row behind (same transaction)', async () => {
  const s = await open();
  const outbox = createOutbox({ db: s.db, maxMessages: 10, maxAgeMs: 60_000, sendUncertain: () => false });
  s.onSave((i) => outbox.enqueue(i));
  s.onSave(() => {
    throw new Error('later hook fails');
  });
  expect(() => s.save(inspection('defect', 1))).toThrow();
  expect(outbox.pending(0, 10)).toEqual([]);
});
