// A silent hub stall: the link stays open but nothing is acknowledged (no RST). Health must
// show it from the acknowledgements within the configured bound, the connection is made again,
// and nothing is lost: everything stored meanwhile arrives once the link works again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { EventsExtension } from '../../src/events/index.js';
import type { Inspection } from '../../src/common/types.js';
import { newKey, startFakeHub, type FakeHub } from './fake-hub.js';
import { startStallProxy, type StallProxy } from './stall-proxy.js';
import { captureLogger, startLine, tempDir, until, writeCa } from './helpers.js';

const KEY = newKey();
let hub: FakeHub;
let proxy: StallProxy;
let app: App;
let events: EventsExtension;
let cleanup: () => Promise<void>;
const logged = captureLogger('info');
const seen: Inspection[] = [];

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir('visor-events-stall-'));
  hub = await startFakeHub({ identities: { dev1: KEY } });
  proxy = await startStallProxy(hub.port);
  app = await startLine(dir, { connectionString: hub.connectionString('dev1').replace(/:\d+$/, `:${proxy.port}`), caFile: await writeCa(dir, hub.ca), ackTimeoutSeconds: 2, degradedOutboxAgeSeconds: 3 }, { log: logged.log });
  events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await until('connected', () => events.status().connection.state === 'connected');
  await until('events delivered', () => hub.telemetry.length >= 3);
});

afterAll(async () => {
  await app?.stop();
  await proxy?.close();
  await hub?.close();
  await cleanup?.();
});

describe('a hub that stops acknowledging without closing the link', () => {
  it('shows in health within the bound, reconnects, and delivers everything once the link works again', async () => {
    expect(app.health.report().events).toMatchObject({ ok: true, connection: 'connected' });
    proxy.stall();
    const stalledAt = Date.now();
    const since = seen.length;
    const report = await until('health shows the stall', () => (app.health.report().events!.ok ? undefined : app.health.report().events), 20_000);
    const seconds = (Date.now() - stalledAt) / 1000;
    // ackTimeoutSeconds 2 (+ the time for a defect to be stored and sent): far below the 60 s goal.
    expect(seconds).toBeLessThan(10);
    expect(String(report.reason)).toMatch(/not been acknowledged|IoT Hub (connecting|disconnected)|undelivered event/);
    await until('the stalled connection dropped', () => logged.lines.some((l) => l.includes('dropping the IoT Hub connection to make a new one')), 20_000);
    const lost = await until('"connection lost" logged', () => logged.lines.map((l) => JSON.parse(l) as { msg: string; detail?: string }).find((l) => l.msg.startsWith('IoT Hub connection lost')), 20_000);
    expect(lost.detail).toMatch(/no acknowledgement from IoT Hub within 2 s/);

    await until('defects stored during the stall', () => seen.slice(since).filter((i) => i.verdict === 'defect').length >= 3);
    const during = seen.slice(since).filter((i) => i.verdict === 'defect').map((i) => i.id);
    proxy.unstall();
    await until('all delivered', () => during.every((id) => hub.telemetry.some((m) => m.messageId === id)), 60_000);
    await until('healthy again', () => (app.health.report().events!.ok ? app.health.report().events : undefined), 30_000);
    expect(app.health.report().events).not.toHaveProperty('lastError');
  });
});
