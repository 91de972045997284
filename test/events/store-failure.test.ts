// A full store is told to IoT Hub at once: a health message naming the failing save as soon
// as saving starts to fail, and another when it works again (not at the next interval).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { EventsExtension } from '../../src/events/index.js';
import { newKey, startFakeHub, type FakeHub } from './fake-hub.js';
import { startLine, tempDir, until, writeCa } from './helpers.js';

const KEY = newKey();
let hub: FakeHub;
let app: App;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir('visor-events-store-'));
  hub = await startFakeHub({ identities: { dev1: KEY } });
  // An hour between periodic health messages: any that arrives in the test was sent by the change.
  app = await startLine(dir, { connectionString: hub.connectionString('dev1'), caFile: await writeCa(dir, hub.ca), healthIntervalSeconds: 3600 });
  const events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
  await until('connected', () => events.status().connection.state === 'connected');
  await until('inspections stored', () => app.store.stats().inspections >= 2);
});

afterAll(async () => {
  await app?.stop();
  await hub?.close();
  await cleanup?.();
});

const healthBodies = () =>
  hub.telemetry.filter((m) => m.properties.eventType === 'health').map((m) => JSON.parse(m.body.toString('utf8')) as { store: { level: string; failing?: string; notStored: number; reason?: string } });

describe('a store that cannot save', () => {
  it('sends a health message naming SQLITE_FULL at once, and one when storing works again', async () => {
    // Cap the database at its current size: SQLite answers SQLITE_FULL as on a full disk.
    const pages = app.store.db.pragma('page_count', { simple: true }) as number;
    app.store.db.pragma(`max_page_count = ${pages}`);
    const failing = await until('a health message with the failing store', () => healthBodies().find((b) => b.store.failing === 'SQLITE_FULL'), 20_000);
    expect(failing.store.notStored).toBeGreaterThanOrEqual(1);
    expect(failing.store.reason).toMatch(/storing inspections fails: SQLITE_FULL/);
    // /healthz says so too. Polled, as the message may come before the report is read; rows the
    // outbox deletes once the hub has them free pages, so a save now and then fits under the cap,
    // which does not clear the failure (saving must work RECOVERY_SAVES in a row, RECOVERY_MS on).
    const shown = await until('the line health showing the store failing', () => {
      const store = app.health.report().store;
      return store?.failing ? store : undefined;
    }, 20_000, 5);
    expect(shown).toMatchObject({ ok: false, failing: true });

    app.store.db.pragma('max_page_count = 1073741823');
    const before = healthBodies().length;
    const recovered = await until('a health message with the store working', () => healthBodies().slice(before).find((b) => b.store.failing === undefined), 20_000);
    expect(recovered.store.notStored).toBeGreaterThanOrEqual(1);
    expect(app.health.report().store).toMatchObject({ ok: true });
  });
});
