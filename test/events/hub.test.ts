// The real azure-iot-device client against the fake hub: telemetry, outage, twin,
// direct methods, C2D, wrong key.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { createEventsExtension, type EventsExtension } from '../../src/events/index.js';
import { createHealthRegistry } from '../../src/line/health.js';
import { createMetrics } from '../../src/line/metrics.js';
import type { Inspection } from '../../src/common/types.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { newKey, startFakeHub, type FakeHub } from './fake-hub.js';
import { captureLogger, startLine, tempDir, until, writeCa } from './helpers.js';

const KEY = newKey();
let hub: FakeHub;
let app: App;
let events: EventsExtension;
let dir: string;
let cleanup: () => Promise<void>;
const seen: Inspection[] = [];

function received(id: string) {
  return hub.telemetry.filter((m) => m.messageId === id);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-events-hub-'));
  hub = await startFakeHub({ identities: { dev1: KEY } });
  app = await startLine(dir, { connectionString: hub.connectionString('dev1'), caFile: await writeCa(dir, hub.ca), healthIntervalSeconds: 1 });
  events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await until('connected', () => events.status().connection.state === 'connected');
});

afterAll(async () => {
  await app?.stop();
  await hub?.close();
  await cleanup?.();
});

describe('defect events', () => {
  it('arrive with message id = inspection id, content type, routing properties and the inspection body', async () => {
    const first = await until('a defect', () => seen.find((i) => i.verdict === 'defect'));
    const [message] = await until('its message', () => received(first.id).length > 0 && received(first.id));
    expect(message!.deviceId).toBe('dev1');
    expect(message!.contentType).toBe('application/json');
    expect(message!.contentEncoding).toBe('utf-8');
    expect(message!.properties).toEqual({ eventType: 'defect', severity: 'high', cameraId: 'a', modelVersion: first.model.version });
    const body = JSON.parse(message!.body.toString('utf8'));
    expect(body).toMatchObject({
      schema: 'visor.inspection/1',
      eventType: 'defect',
      inspectionId: first.id,
      cameraId: 'a',
      frameSeq: first.frameSeq,
      verdict: 'defect',
      score: first.score,
      model: first.model,
      thresholds: first.thresholds,
      capturedAt: new Date(first.capturedAt).toISOString(),
      image: { localId: first.id, path: first.imagePath },
    });
    expect(body.timings.inferenceMs).toBe(first.timings.inferenceMs);
  });

  it('sends a health message with eventType=health', async () => {
    const health = await until('health', () => hub.telemetry.find((m) => m.properties.eventType === 'health'));
    const body = JSON.parse(health.body.toString('utf8'));
    expect(body).toMatchObject({ schema: 'visor.health/1', eventType: 'health', cameras: [{ id: 'a' }], outbox: { depth: expect.any(Number) } });
  });

  it('loses nothing during an outage: all defects arrive after the hub returns, in order per camera', async () => {
    await hub.pause();
    const since = seen.length;
    await until('disconnected', () => events.status().connection.state !== 'connected');
    // The line keeps inspecting; defects pile up in the outbox.
    await until('6 defects during the outage', () => seen.slice(since).filter((i) => i.verdict === 'defect').length >= 6);
    expect(events.status().outbox.depth).toBeGreaterThan(0);
    expect(app.health.report().events).toMatchObject({ ok: false, connection: expect.stringMatching(/connecting|disconnected/) });
    const during = seen.slice(since).filter((i) => i.verdict === 'defect').map((i) => i.id);

    await hub.resume();
    await until('all delivered', () => during.every((id) => received(id).length > 0), 30_000);
    // First arrival of each id follows the order the inspections were made.
    const order = [...new Set(hub.telemetry.filter((m) => m.properties.cameraId === 'a').map((m) => m.messageId))];
    const positions = during.map((id) => order.indexOf(id!));
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    await until('outbox drained', () => events.status().outbox.depth === 0 || undefined);
    expect(app.health.report().events).toMatchObject({ ok: true, connection: 'connected' });
  });
});

describe('module twin', () => {
  it('applies a desired threshold change from the next frame and reports it', async () => {
    const version = hub.patchDesired('dev1', { thresholds: { defect: 1000 } });
    const report = await until('reported config', () => hub.reported('dev1').config?.version === version && hub.reported('dev1').config);
    expect(report).toMatchObject({ status: 'applied' });
    expect(app.control.thresholds('a').defect).toBe(1000);
    const appliedAt = Date.now();
    const next = await until('frames after the change', () => {
      const after = seen.filter((i) => i.decidedAt > appliedAt);
      return after.length >= 2 && after;
    });
    for (const i of next) expect(i).toMatchObject({ verdict: 'ok', thresholds: { defect: 1000 } });
    await until('reported thresholds', () => hub.reported('dev1').cameras?.a?.thresholds?.defect === 1000);
  });

  it('rejects an invalid patch with the reason and keeps the running config', async () => {
    const before = app.control.thresholds('a');
    const version = hub.patchDesired('dev1', { thresholds: { defect: 'high' }, cameras: { nope: { thresholds: { defect: 1 } } } });
    const report = await until('rejection', () => hub.reported('dev1').config?.version === version && hub.reported('dev1').config);
    expect(report.status).toBe('rejected');
    expect(report.error).toMatch(/thresholds\.defect/);
    expect(app.control.thresholds('a')).toEqual(before);
    // Fixing the document applies it again.
    const fixed = hub.patchDesired('dev1', { thresholds: { defect: 0 }, cameras: null });
    await until('applied', () => hub.reported('dev1').config?.version === fixed && hub.reported('dev1').config.status === 'applied');
    expect(app.control.thresholds('a').defect).toBe(0);
  });
});

describe('direct methods', () => {
  it('getStatus', async () => {
    const r = await hub.invokeMethod('dev1', 'getStatus', {});
    expect(r.status).toBe(200);
    expect(r.payload).toMatchObject({ software: { version: expect.any(String) }, connection: { mode: 'device', state: 'connected' }, model: { name: 'elpv-cells' }, cameras: [{ id: 'a' }] });
    expect(JSON.stringify(r.payload)).not.toContain(KEY);
  });

  it('setThreshold: good, bad and unknown camera', async () => {
    const ok = await hub.invokeMethod('dev1', 'setThreshold', { cameraId: 'a', defect: 0.5, uncertainBand: 0.1 });
    expect(ok).toMatchObject({ status: 200, payload: { thresholds: { a: { defect: 0.5, uncertainBand: 0.1 } } } });
    expect(app.control.thresholds('a')).toEqual({ defect: 0.5, uncertainBand: 0.1 });
    const bad = await hub.invokeMethod('dev1', 'setThreshold', { cameraId: 'a', defect: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.payload.error).toMatch(/defect/);
    expect((await hub.invokeMethod('dev1', 'setThreshold', { uncertainBand: -1 })).status).toBe(400);
    expect((await hub.invokeMethod('dev1', 'setThreshold', {})).status).toBe(400);
    const unknown = await hub.invokeMethod('dev1', 'setThreshold', { cameraId: 'zz', defect: 1 });
    expect(unknown).toMatchObject({ status: 404, payload: { error: 'no camera "zz"' } });
    expect(app.control.thresholds('a')).toEqual({ defect: 0.5, uncertainBand: 0.1 });
    await hub.invokeMethod('dev1', 'setThreshold', { cameraId: 'a', defect: 0, uncertainBand: 0 });
  });

  it('captureSample stores the next frame with its image', async () => {
    const r = await hub.invokeMethod('dev1', 'captureSample', { cameraId: 'a' });
    expect(r.status).toBe(200);
    const stored = app.store.get(r.payload.inspectionId);
    expect(stored?.imagePath).toBeTruthy();
    expect((await hub.invokeMethod('dev1', 'captureSample', {})).status).toBe(400);
    expect((await hub.invokeMethod('dev1', 'captureSample', { cameraId: 'zz' })).status).toBe(404);
  });

  it('reloadModel: from disk, from a verified URL, refusing a wrong hash', async () => {
    const files = new Map([
      ['/pkg/model.json', await readFile(path.join(DEMO_MODEL, 'model.json'))],
      ['/pkg/model.onnx', await readFile(path.join(DEMO_MODEL, 'model.onnx'))],
    ]);
    const server = http.createServer((req, res) => {
      const body = files.get(new URL(req.url!, 'http://x').pathname);
      res.statusCode = body ? 200 : 404;
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pkg/model.json?sv=1&sig=secret`;
    try {
      expect(await hub.invokeMethod('dev1', 'reloadModel', {})).toMatchObject({ status: 200, payload: { model: { name: 'elpv-cells' } } });
      const sha256 = createHash('sha256').update(files.get('/pkg/model.json')!).digest('hex');
      const good = await hub.invokeMethod('dev1', 'reloadModel', { url, sha256 }, 30_000);
      expect(good.status).toBe(200);
      expect(app.control.modelDir).toBe(path.join(dir, 'data', 'models', sha256));
      const wrong = await hub.invokeMethod('dev1', 'reloadModel', { url, sha256: '0'.repeat(64) });
      expect(wrong.status).toBe(500);
      expect(wrong.payload.error).toMatch(/sha256 .* expected 0{64}; refused/);
      expect(app.control.modelDir).toBe(path.join(dir, 'data', 'models', sha256));
      expect((await hub.invokeMethod('dev1', 'reloadModel', { url: 'ftp://x/model.json', sha256 })).status).toBe(400);
    } finally {
      server.close();
    }
  });
});

describe('cloud-to-device messages', () => {
  it('runs a valid command and rejects an invalid one with a reason', async () => {
    hub.sendC2d('dev1', JSON.stringify({ method: 'setThreshold', payload: { cameraId: 'a', defect: 0.25 } }));
    await until('C2D applied', () => app.control.thresholds('a').defect === 0.25);
    hub.sendC2d('dev1', 'not json', { '$.mid': 'c2d-bad' });
    const rejected = await until('reported rejection', () => hub.reported('dev1').c2d?.lastRejected);
    expect(rejected).toMatchObject({ messageId: 'c2d-bad', reason: 'body is not JSON' });
    hub.sendC2d('dev1', JSON.stringify({ method: 'setThreshold', payload: { cameraId: 'zz', defect: 1 } }), { '$.mid': 'c2d-cam' });
    await until('second rejection', () => hub.reported('dev1').c2d?.lastRejected?.messageId === 'c2d-cam');
    expect(hub.reported('dev1').c2d.lastRejected.reason).toMatch(/no camera "zz"/);
  });
});

describe('connect failures', () => {
  it('name the underlying cause, not the SDK\'s "(Not authorized)" wrapper', async () => {
    for (const [events, expected] of [
      [{ connectionString: hub.connectionString('dev1').replace(/:\d+$/, ':1') }, /^connect ECONNREFUSED 127\.0\.0\.1:1$/],
      [{ connectionString: hub.connectionString('dev1'), caFile: undefined }, /^self-signed certificate/],
    ] as const) {
      const health = createHealthRegistry();
      const ext = createEventsExtension({
        ...app,
        config: { ...app.config, events: { ...app.config.events, ...events, healthIntervalSeconds: 3600 } },
        log: captureLogger('warn').log,
        health,
        metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
      })!;
      await ext.start();
      try {
        const lastError = await until('health shows it', () => health.report().events?.lastError as string | undefined);
        expect(lastError).toMatch(expected);
        expect(lastError).not.toMatch(/Not authorized/i);
      } finally {
        await ext.stop();
      }
    }
  });
});

describe('wrong key', () => {
  it('is refused, shows in health and logs, and neither key nor token reaches the log', async () => {
    const wrongKey = newKey();
    const cap = captureLogger('debug');
    const health = createHealthRegistry();
    const connectionString = hub.connectionString('dev1', wrongKey);
    const ext = createEventsExtension({
      ...app,
      config: { ...app.config, events: { ...app.config.events, connectionString, healthIntervalSeconds: 3600 } },
      log: cap.log,
      health,
      metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
    })!;
    await ext.start();
    try {
      const refused = await until('refusal', () => hub.connects.find((c) => !c.ok && c.reason === 'signature does not match the key'));
      await until('health shows it', () => health.report().events?.lastError);
      expect(health.report().events).toMatchObject({ ok: false, lastError: 'the hub refused the credentials (MQTT: Connection refused: Not authorized)' });
      expect(cap.lines.some((l) => /cannot connect to IoT Hub/.test(l) && /not authorized/i.test(l))).toBe(true);
      const sig = /sig=([^&]+)/.exec(refused.token)![1]!;
      for (const line of cap.lines) {
        expect(line).not.toContain(wrongKey);
        expect(line).not.toContain(sig);
        expect(line).not.toContain(decodeURIComponent(sig));
      }
      expect(JSON.stringify(health.report())).not.toContain(wrongKey);
    } finally {
      await ext.stop();
    }
  });
});
