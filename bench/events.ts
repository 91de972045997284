// Outbox figures against the test IoT hub (aedes + TLS on loopback, the real SDK over MQTT):
//  1. throughput: events/s from the outbox to the hub with the connection up;
//  2. recovery: 10,000 events queued during an outage, time from the broker's return
//     to an empty outbox (includes the reconnect backoff).
// Run: npx tsx bench/events.ts [count]
import path from 'node:path';
import { parseConfig } from '../src/config/index.js';
import { createHubConnection } from '../src/events/hub.js';
import { createOutbox, toOutgoing } from '../src/events/outbox.js';
import { createSender } from '../src/events/sender.js';
import { silentLogger } from '../src/common/log.js';
import { openStore } from '../src/store/index.js';
import type { Inspection } from '../src/common/types.js';
import { newKey, startFakeHub } from '../test/events/fake-hub.js';
import { makeInspection } from '../test/helpers/inspection.js';
import { tempDir } from '../test/helpers/temp.js';
import { until } from '../test/helpers/wait.js';

const COUNT = Number(process.argv[2] ?? 10_000);
const log = silentLogger();

function defect(i: number): Inspection {
  return makeInspection({ cameraId: i % 2 === 0 ? 'a' : 'b', frameSeq: i, score: 0.97, thresholds: { defect: 0.5, uncertainBand: 0.1 } });
}

/** Polls every 5 ms: the figures are drain times, so the step must stay well below them. */
const waitUntil = (what: string, check: () => boolean) => until(what, check, 600_000, 5);

const { dir, cleanup } = await tempDir('visor-bench-events-');
const hub = await startFakeHub({ identities: { bench: newKey() } });
const config = parseConfig({ cameras: [{ id: 'a', source: 'x' }], events: { connectionString: hub.connectionString('bench'), backoffInitialMs: 100, backoffMaxMs: 500 } });
const store = openStore({ config: config.store, dataDir: path.join(dir, 'data'), log });
const outbox = createOutbox({ db: store.db, maxMessages: COUNT * 2, maxAgeMs: 3600_000, sendUncertain: () => false });
store.onSave((i) => outbox.enqueue(i));
const backoff = { initialMs: config.events.backoffInitialMs, maxMs: config.events.backoffMaxMs };
const connection = createHubConnection({
  mode: 'device',
  config: config.events,
  ca: hub.ca,
  backoff,
  log,
  handlers: { onDesired() {}, methods: {}, onC2d: async () => ({ ok: true }), onConnected() {} },
});
const sender = createSender({ outbox, target: connection, toEvent: toOutgoing, maxInFlight: config.events.maxInFlight, backoff, log });

try {
  connection.start();
  sender.start();
  await waitUntil('the hub connection', () => connection.ready);

  // 1. Throughput with the connection up: queue a batch in one go, time until acknowledged.
  const n1 = Math.min(COUNT, 5000);
  store.db.transaction(() => {
    for (let i = 0; i < n1; i++) store.save(defect(i));
  })();
  let t0 = performance.now();
  sender.notify();
  await waitUntil('an empty outbox', () => outbox.depth() === 0);
  let seconds = (performance.now() - t0) / 1000;
  console.log(`throughput: ${n1} events in ${seconds.toFixed(2)} s = ${Math.round(n1 / seconds)} events/s (maxInFlight ${config.events.maxInFlight})`);

  // 2. Outage: the broker goes away, COUNT defects pile up, the broker returns.
  await hub.pause();
  await waitUntil('the connection to drop', () => !connection.ready);
  const received = hub.telemetry.length;
  store.db.transaction(() => {
    for (let i = 0; i < COUNT; i++) store.save(defect(i));
  })();
  console.log(`outage: ${outbox.depth()} events in the outbox`);
  await new Promise((r) => setTimeout(r, 1000));
  t0 = performance.now();
  await hub.resume();
  await waitUntil('the hub connection', () => connection.ready);
  const connectedAfter = (performance.now() - t0) / 1000;
  await waitUntil('an empty outbox', () => outbox.depth() === 0);
  seconds = (performance.now() - t0) / 1000;
  const arrived = new Set(hub.telemetry.slice(received).map((m) => m.messageId)).size;
  console.log(
    `recovery: broker back → connected in ${connectedAfter.toFixed(2)} s (backoff ${backoff.initialMs}–${backoff.maxMs} ms), outbox of ${COUNT} drained in ${seconds.toFixed(2)} s; ${arrived} distinct ids arrived`,
  );
} finally {
  await sender.stop();
  await connection.stop();
  store.close();
  await hub.close();
  await cleanup();
}
