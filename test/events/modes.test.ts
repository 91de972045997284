// How Visor reaches the cloud: IoT Edge module (ModuleClient.fromEnvironment against the
// fake hub as edgeHub, with its workload API), the local sink, and the selection between them.
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { selectHubMode, type EventsExtension } from '../../src/events/index.js';
import type { LocalSinkLine } from '../../src/events/sink.js';
import { newKey, startFakeHub, type FakeHub } from './fake-hub.js';
import { startLine, tempDir, until } from './helpers.js';

let app: App | undefined;
let hub: FakeHub | undefined;
let cleanup: (() => Promise<void>) | undefined;
const savedEnv = { ...process.env };

afterEach(async () => {
  await app?.stop();
  await hub?.close();
  await cleanup?.();
  app = hub = cleanup = undefined;
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
});

describe('selection', () => {
  const edge = { IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock', IOTEDGE_MODULEID: 'visor' };
  it('prefers an explicit connection string, then IoT Edge, then DPS, else the local sink', () => {
    const dps = { idScope: '0ne0001', registrationId: 'cell-7', symmetricKey: newKey(), globalEndpoint: 'global.azure-devices-provisioning.net' };
    expect(selectHubMode({ connectionString: 'HostName=h;DeviceId=d;SharedAccessKey=k' }, edge)).toBe('device');
    expect(selectHubMode({}, edge)).toBe('module');
    expect(selectHubMode({ dps }, edge)).toBe('module');
    expect(selectHubMode({ dps }, {})).toBe('dps');
    expect(selectHubMode({}, { EdgeHubConnectionString: 'x' })).toBe('module');
    expect(selectHubMode({}, { IOTEDGE_MODULEID: 'visor' })).toBe('local');
    expect(selectHubMode({}, {})).toBe('local');
  });
});

describe('IoT Edge module', () => {
  it('connects with ModuleClient.fromEnvironment and sends on the configured output', async () => {
    const t = await tempDir('visor-events-module-');
    cleanup = t.cleanup;
    hub = await startFakeHub({ identities: { 'edge1/visor': newKey() }, workload: true });
    // The SDK reads the IoT Edge variables from process.env itself.
    Object.assign(process.env, hub.edgeEnv('edge1', 'visor'));
    app = await startLine(t.dir, { outputName: 'defects' });
    const events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
    expect(events.mode).toBe('module');
    const message = await until('module telemetry', () => hub!.telemetry.find((m) => m.properties.eventType === 'defect'));
    expect(message).toMatchObject({ deviceId: 'edge1', moduleId: 'visor', outputName: 'defects', contentType: 'application/json' });
    expect(app.store.get(message.messageId!)?.verdict).toBe('defect');
    // The module twin and methods work the same way.
    const status = await hub.invokeMethod('edge1/visor', 'getStatus', {});
    expect(status).toMatchObject({ status: 200, payload: { connection: { mode: 'module', state: 'connected' } } });
    const version = hub.patchDesired('edge1/visor', { cameras: { a: { thresholds: { uncertainBand: 0.2 } } } });
    await until('module reported', () => hub!.reported('edge1/visor').config?.version === version);
    expect(app.control.thresholds('a').uncertainBand).toBe(0.2);
  });
});

describe('local sink', () => {
  it('writes events as JSON lines under the data dir when no hub is configured', async () => {
    const t = await tempDir('visor-events-local-');
    cleanup = t.cleanup;
    app = await startLine(t.dir, {});
    const events = app.extensions.find((e) => e.name === 'events') as EventsExtension;
    expect(events.mode).toBe('local');
    const lines = await until('3 lines', async () => {
      const text = await readFile(events.sinkFile!, 'utf8').catch(() => '');
      const parsed = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LocalSinkLine);
      return parsed.length >= 3 && parsed;
    });
    const first = lines[0]!;
    expect(first).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8', properties: { eventType: 'defect', cameraId: 'a' } });
    expect(first.body).toMatchObject({ inspectionId: first.messageId, verdict: 'defect' });
    expect(app.store.get(first.messageId)?.verdict).toBe('defect');
    expect(app.health.report().events).toMatchObject({ ok: true, mode: 'local' });
  });
});
