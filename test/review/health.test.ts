// /healthz: without sign-in only what a load balancer acts on; signed in, the detail, with
// camera URLs redacted. The camera is a real HTTP snapshot camera refused by its server.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createBus } from '../../src/line/bus.js';
import { lineStatus, type ComponentHealth } from '../../src/line/health.js';
import { createMetrics } from '../../src/line/metrics.js';
import { buildReviewServer, createUserStore } from '../../src/review/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { cameraConfig } from '../capture/helpers.js';
import { until } from '../helpers/wait.js';

const PASSWORD = 'Cam-Pa55word';
const TOKEN = 'tok-5d1e9a';
const ADMIN = { name: 'admin', password: 'admin-pass-1' };

let dir: string;
let store: Store;
let server: http.Server;
let camera: Camera;
let app: FastifyInstance;
let base: string;
const DEGRADED: Record<string, ComponentHealth> = {
  events: { ok: false, connected: false, lastError: 'cannot connect: HostName=hub;SharedAccessKey=abc', outboxDepth: 7 },
  upload: { ok: true, queueDepth: 2 },
};
let components = DEGRADED;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-healthz-'));
  server = http.createServer((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="cam"' }).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  camera = createCamera({
    config: cameraConfig({ source: `http://admin:${PASSWORD}@${base}/snap.jpg?token=${TOKEN}`, watchdog: { backoffInitialMs: 50, backoffMaxMs: 100 } }),
    inferenceSize: { width: 32, height: 32 },
    baseDir: '.',
    log: silentLogger(),
  });
  camera.start();
  await until('a refused attempt', () => camera.status().reconnects >= 1);
  store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
  await createUserStore({ db: store.db }).add({ name: ADMIN.name, role: 'admin', password: ADMIN.password });
  const cameras = () => [camera.status()];
  app = buildReviewServer({
    store,
    bus: createBus(silentLogger()),
    config: parseConfig({ cameras: [{ id: 'cam1', source: 'x' }] }).review,
    cameras,
    components: () => components,
    model: () => ({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras, defaultMetrics: false }),
    uiDir: path.join(dir, 'no-ui'),
    log: silentLogger(),
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await camera?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('/healthz', () => {
  it('without sign-in: status, each camera state and each component ok; no error texts, URLs, counters or model', async () => {
    const res = await app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      status: 'degraded',
      cameras: [{ cameraId: 'cam1', state: 'reconnecting' }],
      components: { events: { ok: false }, upload: { ok: true } },
    });
    for (const leak of [PASSWORD, TOKEN, 'snap.jpg', 'HostName', 'elpv-cells']) expect(res.body).not.toContain(leak);
  });

  it('signed in: the detail, with the camera URL redacted', async () => {
    const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: ADMIN });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const res = await app.inject({ url: '/healthz', headers: { cookie } });
    const body = res.json<{ model: unknown; cameras: { lastError: string; reconnects: number }[]; components: Record<string, Record<string, unknown>> }>();
    expect(body.model).toEqual({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' });
    expect(body.cameras[0]!.lastError).toBe(`snapshot http://${base}/snap.jpg?token=[REDACTED]: HTTP 401 Unauthorized (credentials of user "admin" refused)`);
    expect(body.cameras[0]!.reconnects).toBeGreaterThanOrEqual(1);
    expect(body.components.events).toMatchObject({ ok: false, outboxDepth: 7 });
    for (const leak of [PASSWORD, TOKEN]) expect(res.body).not.toContain(leak);
  });
});

describe('/healthz for a supervisor', () => {
  it('answers 503 while a component is failing, with the reasons only when signed in; degraded stays 200', async () => {
    components = { ...DEGRADED, store: { ok: false, failing: true, reason: 'storing inspections fails: SQLITE_FULL: database or disk is full' } };
    try {
      const res = await app.inject({ url: '/healthz' });
      expect(res.statusCode).toBe(503);
      const body = res.json<Record<string, unknown>>();
      expect(Object.keys(body).sort()).toEqual(['cameras', 'components', 'status']);
      expect(body).toMatchObject({ status: 'failing', components: { events: { ok: false }, upload: { ok: true }, store: { ok: false } } });
      expect(res.body).not.toContain('SQLITE_FULL');
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: ADMIN });
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      const detail = await app.inject({ url: '/healthz', headers: { cookie } });
      expect(detail.statusCode).toBe(503);
      expect(detail.json<{ reasons: string[] }>().reasons).toContain('store failing: storing inspections fails: SQLITE_FULL: database or disk is full');
    } finally {
      components = DEGRADED;
    }
    const after = await app.inject({ url: '/healthz' });
    // The refused camera may be offline by now (itself failing): 200 exactly when it is not.
    expect(after.statusCode).toBe(camera.status().state === 'offline' ? 503 : 200);
  });

  it('is failing when a camera is offline (beyond watchdog.offlineAfterFailures), degraded while it reconnects', () => {
    expect(lineStatus([{ cameraId: 'a', state: 'online' }], { upload: { ok: true } })).toEqual({ status: 'ok', reasons: [] });
    expect(lineStatus([{ cameraId: 'a', state: 'reconnecting', lastError: 'EOF' }], {})).toEqual({ status: 'degraded', reasons: ['camera a reconnecting: EOF'] });
    expect(lineStatus([{ cameraId: 'a', state: 'offline' }, { cameraId: 'b', state: 'online' }], { upload: { ok: false } }).status).toBe('failing');
  });
});
