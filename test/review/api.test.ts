// The review API through app.inject(): auth, roles, CSRF, validation, the queue, verdicts, settings, users.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus, lendFrame, type Bus } from '../../src/line/bus.js';
import { parseConfig, type ReviewConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createMetrics } from '../../src/line/metrics.js';
import { buildReviewServer, createLiveFrames, createUserStore } from '../../src/review/index.js';
import { randomSetupCode } from '../../src/review/server.js';
import { createLineControl, type LineControl } from '../../src/line/control.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { InspectionSchema, type CameraStatus, type Inspection, type Verdict } from '../../src/common/types.js';
import type { BusEvents, ReviewEvent } from '../../src/line/bus.js';
import { makeInspection } from '../helpers/inspection.js';
import { makeInspection as fullInspection } from '../store/helpers.js';
import { FIXTURES } from '../helpers/paths.js';
import { anomalyModel, baseManifest, writePackage } from '../inference/helpers.js';
import { ensureUiBuilt } from './ui-build.js';
import { until } from '../helpers/wait.js';
import { createTwinApplier } from '../../src/events/twin.js';
import { createBoardQueries, currentShift } from '../../src/review/board.js';

const cameras: CameraStatus[] = [
  { cameraId: 'cells', state: 'online', framesIn: 10, framesDropped: 1, framesCorrupt: 0, reconnects: 0 },
  { cameraId: 'dock', state: 'reconnecting', framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 2 },
];
const PASSWORDS = { admin: 'admin-pass-1', engineer: 'engineer-pass', operator: 'operator-pass' };

let dir: string;
let store: Store;
let bus: Bus;
let jpeg: Buffer;
const reviews: ReviewEvent[] = [];
const inspections: Inspection[] = [];
const thresholdEvents: BusEvents['thresholds'][] = [];
// The real line control (over a tiny model whose manifest thresholds are 1 and 0.2), so what
// the settings routes apply is validated and announced as on a running line.
let control: LineControl;

function reviewConfig(review: Record<string, unknown> = {}): ReviewConfig {
  return parseConfig({ cameras: [{ id: 'cells', source: 'x' }], review }).review;
}

function build(config = reviewConfig(), extra: { uiDir?: string; now?: () => number } = {}): FastifyInstance {
  return buildReviewServer({
    store,
    bus,
    config,
    control,
    live: createLiveFrames({ bus, minIntervalMs: 0 }),
    cameras: () => cameras,
    model: () => ({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => cameras, defaultMetrics: false }),
    uiDir: extra.uiDir ?? path.join(dir, 'no-ui'),
    log: silentLogger(),
    now: extra.now,
  });
}

function inspection(verdict: Verdict, score: number, seq: number, at: number, camera = 'cells', version = '0.1.0'): Inspection {
  return makeInspection({ verdict, score, frameSeq: seq, capturedAt: at, cameraId: camera, model: { name: 'elpv-cells', version, task: 'anomaly' } });
}

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(app: FastifyInstance, name: keyof typeof PASSWORDS): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name, password: PASSWORDS[name] } });
  expect(res.statusCode).toBe(200);
  return { cookie: String(res.headers['set-cookie']).split(';')[0]!, csrf: res.json<{ csrf: string }>().csrf };
}

const as = (s: Session, csrf = true) => ({ cookie: s.cookie, ...(csrf ? { 'x-csrf-token': s.csrf } : {}) });

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-review-api-'));
  store = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: dir, log: silentLogger() });
  bus = createBus(silentLogger());
  bus.on('review', (r) => reviews.push(r));
  bus.on('thresholds', (t) => thresholdEvents.push(t));
  const manifest = baseManifest('anomaly', { thresholds: { defect: 1, uncertainBand: 0.2 } });
  const pkg = await loadModelPackage(await writePackage(dir, anomalyModel(), manifest, 'model'));
  control = createLineControl({
    config: parseConfig({ cameras: cameras.map((c) => ({ id: c.cameraId, source: 'x' })) }),
    inferencer: await createInferencer({ pkg, executionProviders: ['cpu'], threads: 1, log: silentLogger() }),
    modelDir: pkg.dir,
    bus,
    log: silentLogger(),
  });
  jpeg = await sharp(path.join(FIXTURES, 'cell0020.png')).jpeg().toBuffer();
  // 60 inspections a minute apart: every 3rd a defect, every 3rd+1 uncertain, the rest ok; the last 10 on "dock" with another model.
  for (let i = 0; i < 60; i++) {
    const verdict: Verdict = i % 3 === 0 ? 'defect' : i % 3 === 1 ? 'uncertain' : 'ok';
    const score = verdict === 'defect' ? 1 + i / 100 : verdict === 'uncertain' ? 0.8 + i / 1000 : 0.3 + i / 1000;
    const camera = i >= 50 ? 'dock' : 'cells';
    inspections.push(store.save(inspection(verdict, score, i, T0 + i * 60_000, camera, i >= 50 ? '0.2.0' : '0.1.0'), verdict === 'ok' ? undefined : { image: jpeg, overlay: jpeg }));
  }
  const users = createUserStore({ db: store.db });
  for (const role of ['admin', 'engineer', 'operator'] as const) await users.add({ name: role, role, password: PASSWORDS[role] });
});

afterAll(async () => {
  await control?.close();
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = build();
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers 401 on every route but /healthz, the page shell and sign-in', async () => {
    const id = inspections[0]!.id;
    const routes: [string, string][] = [
      ['GET', '/api/inspections'],
      ['GET', `/api/inspections/${id}`],
      ['GET', `/api/inspections/${id}/neighbours`],
      ['GET', `/api/inspections/${id}/image`],
      ['GET', `/api/inspections/${id}/overlay`],
      ['GET', '/api/status'],
      ['GET', '/api/filters'],
      ['GET', '/api/events'],
      ['GET', '/api/live'],
      ['GET', '/api/live/cells/frame.jpg'],
      ['GET', '/api/stats'],
      ['GET', '/api/settings/thresholds'],
      ['POST', '/api/settings/thresholds/cells/preview'],
      ['PUT', '/api/settings/thresholds/cells'],
      ['GET', '/api/audit'],
      ['GET', '/api/users'],
      ['POST', '/api/users'],
      ['PATCH', '/api/users/operator'],
      ['GET', '/api/tokens'],
      ['POST', '/api/tokens'],
      ['DELETE', '/api/tokens/1'],
      ['POST', '/api/reviews'],
      ['POST', '/api/reviews/undo'],
      ['POST', '/api/auth/logout'],
      ['GET', '/metrics'],
    ];
    for (const [method, url] of routes) {
      const res = await app.inject({ method: method as 'GET', url, payload: method === 'GET' ? undefined : {} });
      expect([url, res.statusCode]).toEqual([url, 401]);
      // A cookie that is not a session is no better.
      const forged = await app.inject({ method: method as 'GET', url, headers: { cookie: 'visor_session=forged' }, payload: method === 'GET' ? undefined : {} });
      expect([url, forged.statusCode]).toEqual([url, 401]);
    }
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/auth/state' })).json()).toEqual({ setupAvailable: false });
  });

  it('sets an HttpOnly, SameSite=Strict session cookie; Secure when configured; refuses wrong passwords alike', async () => {
    const ok = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'operator', password: PASSWORDS.operator } });
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/^visor_session=[\w-]{40,};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).not.toContain('Secure');
    const wrong = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'operator', password: 'nope-nope' } });
    const nobody = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'nobody', password: 'nope-nope' } });
    expect([wrong.statusCode, nobody.statusCode]).toEqual([401, 401]);
    expect(wrong.json()).toEqual(nobody.json());
    // Only a hash of the cookie is stored.
    const token = cookie.split(';')[0]!.split('=')[1]!;
    expect(store.db.prepare('SELECT COUNT(*) FROM sessions WHERE token_hash = ?').pluck().get(token)).toBe(0);

    const secure = build(reviewConfig({ auth: { secureCookies: 'always' } }));
    const res = await secure.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'operator', password: PASSWORDS.operator } });
    expect(String(res.headers['set-cookie'])).toContain('Secure');
    await secure.close();
  });

  it('limits sign-in attempts per client address', async () => {
    const limited = build(reviewConfig({ auth: { loginAttemptsPerMinute: 3 } }));
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await limited.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.0.0.9', payload: { name: 'operator', password: 'guess-' + i } });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429]);
    // Even the right password waits out the window; another address is not affected.
    expect((await limited.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.0.0.9', payload: { name: 'operator', password: PASSWORDS.operator } })).statusCode).toBe(429);
    expect((await limited.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.0.0.10', payload: { name: 'operator', password: PASSWORDS.operator } })).statusCode).toBe(200);
    await limited.close();
  });

  it('requires the CSRF token on state-changing requests made with a session', async () => {
    const s = await signIn(app, 'operator');
    const body = { ids: [inspections[3]!.id], decision: 'needs-expert' };
    expect((await app.inject({ method: 'POST', url: '/api/reviews', headers: as(s, false), payload: body })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/api/reviews', headers: { ...as(s, false), 'x-csrf-token': 'x'.repeat(32) }, payload: body })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/api/reviews', headers: as(s), payload: body })).statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/api/reviews/undo', headers: as(s), payload: { ids: body.ids } });
  });

  it('signs out: the session no longer works', async () => {
    const s = await signIn(app, 'operator');
    expect((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: as(s) })).statusCode).toBe(204);
    expect((await app.inject({ url: '/api/status', headers: as(s) })).statusCode).toBe(401);
  });

  it('accepts API tokens without CSRF, until revoked; /metrics too', async () => {
    const admin = await signIn(app, 'admin');
    const created = await app.inject({ method: 'POST', url: '/api/tokens', headers: as(admin), payload: { user: 'operator', label: 'mes' } });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json<{ id: number; token: string }>();
    expect(token).toMatch(/^visor_[\w-]{40,}$/);
    const bearer = { authorization: `Bearer ${token}` };
    expect((await app.inject({ url: '/metrics', headers: bearer })).body).toContain('visor_camera_frames_total');
    expect((await app.inject({ method: 'POST', url: '/api/reviews', headers: bearer, payload: { ids: [inspections[6]!.id], decision: 'needs-expert' } })).statusCode).toBe(200);
    // It acts with its user's role.
    expect((await app.inject({ url: '/api/users', headers: bearer })).statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers: as(admin) })).statusCode).toBe(204);
    expect((await app.inject({ url: '/api/status', headers: bearer })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/status', headers: { authorization: 'Bearer visor_made-up' } })).statusCode).toBe(401);
    expect(reviews.at(-1)).toMatchObject({ inspectionId: inspections[6]!.id, decision: 'needs-expert', user: 'operator' });
  });

  it('answers only to loopback names, review.host and review.allowedHosts (DNS rebinding)', async () => {
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'LOCALHOST']) {
      const res = await app.inject({ url: '/healthz', headers: { host } });
      expect([host, res.statusCode]).toEqual([host, 200]);
    }
    for (const host of ['attacker.example', 'attacker.example:8080', 'visor-line3.plant.example', '127.0.0.1.attacker.example', 'localhost:8080:1']) {
      const res = await app.inject({ url: '/healthz', headers: { host } });
      expect([host, res.statusCode]).toEqual([host, 421]);
      expect(res.json().code).toBe('HOST_NOT_ALLOWED');
    }
    // Every route, signed in or not: a rebinding page's login gets no cookie.
    const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { host: 'attacker.example' }, payload: { name: 'operator', password: PASSWORDS.operator } });
    expect([login.statusCode, login.headers['set-cookie']]).toEqual([421, undefined]);
    const named = build(reviewConfig({ host: '10.0.4.17', allowedHosts: ['visor-line3.plant.example'] }));
    for (const host of ['visor-line3.plant.example:8080', '10.0.4.17:8080', 'localhost']) expect([host, (await named.inject({ url: '/healthz', headers: { host } })).statusCode]).toEqual([host, 200]);
    expect((await named.inject({ url: '/healthz', headers: { host: 'attacker.example' } })).statusCode).toBe(421);
    // Binding every interface does not make every name valid.
    const wildcard = build(reviewConfig({ host: '0.0.0.0' }));
    expect((await wildcard.inject({ url: '/healthz', headers: { host: '0.0.0.0:8080' } })).statusCode).toBe(421);
    await Promise.all([named.close(), wildcard.close()]);
  });

  it('refuses state-changing requests from pages of other origins on a session; API tokens are unaffected', async () => {
    const s = await signIn(app, 'operator');
    const body = { ids: [inspections[9]!.id], decision: 'needs-expert' };
    const post = (headers: Record<string, string | undefined>) => app.inject({ method: 'POST', url: '/api/reviews', headers, payload: body });
    for (const from of [{ origin: 'http://attacker.example' }, { origin: 'null' }, { referer: 'http://attacker.example/page.html' }, { origin: 'http://localhost.attacker.example:8080' }]) {
      const res = await post({ ...as(s), ...from });
      expect([from, res.statusCode, res.json().code]).toEqual([from, 403, 'CROSS_ORIGIN']);
    }
    expect(reviews.filter((r) => r.inspectionId === inspections[9]!.id)).toEqual([]);
    expect((await post({ ...as(s), origin: 'http://127.0.0.1:8080' })).statusCode).toBe(200);
    expect((await post({ ...as(s), referer: 'http://localhost:8080/#/queue' })).statusCode).toBe(200);
    // Reading is not state-changing: a GET with a foreign Origin is answered (CORS keeps its answer from the page).
    expect((await app.inject({ url: '/api/status', headers: { ...as(s), origin: 'http://attacker.example' } })).statusCode).toBe(200);

    const admin = await signIn(app, 'admin');
    const { token } = (await app.inject({ method: 'POST', url: '/api/tokens', headers: as(admin), payload: { user: 'operator', label: 'mes-origin' } })).json<{ token: string }>();
    // A program with a token may send any Origin; with a cookie too, it is treated as a browser.
    expect((await post({ authorization: `Bearer ${token}`, origin: 'http://mes.example' })).statusCode).toBe(200);
    expect((await post({ authorization: `Bearer ${token}`, origin: 'http://mes.example', cookie: s.cookie })).statusCode).toBe(403);
    // Three verdicts went through: undo them all, so the queue tests see the inspection unreviewed.
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'POST', url: '/api/reviews/undo', headers: as(s), payload: { ids: body.ids } })).statusCode).toBe(200);
  });

  it('backs off per account after repeated failed sign-ins, from any address, and resets on success', async () => {
    let clock = T0;
    const guarded = build(reviewConfig({ auth: { loginBackoffMaxSeconds: 4 } }), { now: () => clock });
    const login = (password: string, remoteAddress: string) =>
      guarded.inject({ method: 'POST', url: '/api/auth/login', remoteAddress, payload: { name: 'engineer', password } });
    const codes: number[] = [];
    // Five failures from five addresses (under each address's limit): typing mistakes, no wait yet.
    for (let i = 0; i < 5; i++) codes.push((await login('guess-' + i, `10.1.0.${i}`)).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401]);
    expect((await login('guess-5', '10.1.0.5')).statusCode).toBe(401);
    // Now the account waits 1 s, whatever the address and even with the right password.
    const waiting = await login(PASSWORDS.engineer, '10.1.0.6');
    expect([waiting.statusCode, waiting.headers['retry-after'], waiting.json().code]).toEqual([429, '1', 'LOGIN_BACKOFF']);
    expect(waiting.json().error).toBe('too many failed sign-ins for engineer; try again in 1 s');
    // Another account is not affected.
    expect((await guarded.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.1.0.6', payload: { name: 'operator', password: PASSWORDS.operator } })).statusCode).toBe(200);
    clock += 1000;
    expect((await login('guess-6', '10.1.0.7')).statusCode).toBe(401);
    expect((await login(PASSWORDS.engineer, '10.1.0.7')).headers['retry-after']).toBe('2');
    // The wait doubles up to the cap (4 s here) and refused attempts do not lengthen it: the real user gets in.
    for (let i = 0; i < 4; i++) {
      clock += 4000;
      expect((await login('guess-x' + i, '10.1.0.8')).statusCode).toBe(401);
      expect((await login(PASSWORDS.engineer, '10.1.0.9')).headers['retry-after']).toBe('4');
      for (let j = 0; j < 3; j++) await login('guess-y' + j, '10.1.0.10');
    }
    clock += 4000;
    expect((await login(PASSWORDS.engineer, '10.1.0.11')).statusCode).toBe(200);
    // A success resets the count: five more mistakes before any wait.
    for (let i = 0; i < 5; i++) expect((await login('typo-' + i, '10.1.0.12')).statusCode).toBe(401);
    expect((await login(PASSWORDS.engineer, '10.1.0.12')).statusCode).toBe(200);
    await guarded.close();
  });

  it('caps live-update streams per user (429 beyond it) and frees a slot when one closes', async () => {
    const capped = build(reviewConfig({ auth: { maxEventStreamsPerUser: 2 } }));
    const base = await capped.listen({ host: '127.0.0.1', port: 0 });
    const [op, eng] = [await signIn(capped, 'operator'), await signIn(capped, 'engineer')];
    const open = async (session: Session) => {
      const abort = new AbortController();
      const res = await fetch(`${base}/api/events`, { headers: { cookie: session.cookie }, signal: abort.signal });
      return { res, abort };
    };
    const first = await open(op);
    const second = await open(op);
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    expect(first.res.headers.get('x-content-type-options')).toBe('nosniff');
    const third = await open(op);
    expect(third.res.status).toBe(429);
    expect(await third.res.json()).toMatchObject({ code: 'TOO_MANY_STREAMS', error: expect.stringContaining('operator already has 2') });
    // Another user has their own streams.
    const other = await open(eng);
    expect(other.res.status).toBe(200);
    first.abort.abort();
    await until('a stream slot freed by the closed one', async () => (await open(op).then((s) => (s.abort.abort(), s.res.status))) === 200);
    second.abort.abort();
    other.abort.abort();
    await capped.close();
  });

  it('sends X-Content-Type-Options: nosniff with stored images and every other response', async () => {
    const s = await signIn(app, 'operator');
    const flagged = inspections.find((i) => i.verdict === 'defect')!;
    for (const url of [`/api/inspections/${flagged.id}/image`, `/api/inspections/${flagged.id}/overlay`, '/api/status', '/healthz', '/api/nothing-here']) {
      const res = await app.inject({ url, headers: as(s) });
      expect([url, res.headers['x-content-type-options']]).toEqual([url, 'nosniff']);
    }
    expect((await app.inject({ url: '/healthz', headers: { host: 'attacker.example' } })).headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves /metrics without auth only when publicMetrics is set', async () => {
    const open = build(reviewConfig({ auth: { publicMetrics: true } }));
    expect((await open.inject({ url: '/metrics' })).statusCode).toBe(200);
    await open.close();
  });
});

describe('first admin on a fresh install', () => {
  let freshDir: string;
  let fresh: Store;
  beforeAll(async () => {
    freshDir = await mkdtemp(path.join(os.tmpdir(), 'visor-review-setup-'));
    fresh = openStore({ config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).store, dataDir: freshDir, log: silentLogger() });
  });
  afterAll(async () => {
    fresh.close();
    await rm(freshDir, { recursive: true, force: true });
  });
  const CODE = 'K7QX-M2PD-9WTA';
  const announced: string[] = [];
  const make = (review: Record<string, unknown> = {}) =>
    buildReviewServer({
      store: fresh,
      bus: createBus(silentLogger()),
      config: reviewConfig(review),
      cameras: () => cameras,
      model: () => ({ name: 'm', version: '1', task: 'anomaly' }),
      metrics: createMetrics({ cameras: () => [], defaultMetrics: false }),
      log: silentLogger(),
      newSetupCode: () => CODE,
      announce: (line) => announced.push(line),
    });

  it('makes a fresh random code by default, easy to retype', () => {
    const codes = new Set(Array.from({ length: 50 }, () => randomSetupCode()));
    expect(codes.size).toBe(50);
    for (const code of codes) expect(code).toMatch(/^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/);
  });

  it('cannot be taken by a DNS-rebinding page or a page of another origin, even with the code', async () => {
    const app = make();
    const payload = { name: 'boss', password: 'first-admin-pw', code: CODE };
    // A DNS-rebinding page: attacker.example resolves to 127.0.0.1, the browser sends its own Host and Origin.
    const rebound = await app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      headers: { host: 'attacker.example', origin: 'http://attacker.example' },
      payload,
    });
    expect(rebound.statusCode).toBe(421);
    expect(rebound.json()).toMatchObject({ code: 'HOST_NOT_ALLOWED', error: expect.stringContaining('"attacker.example"') });
    // A page of another origin posting to the real host name is refused too.
    const crossOrigin = await app.inject({ method: 'POST', url: '/api/auth/setup', headers: { origin: 'http://attacker.example' }, payload });
    expect([crossOrigin.statusCode, crossOrigin.json().code]).toEqual([403, 'CROSS_ORIGIN']);
    expect(fresh.db.prepare('SELECT COUNT(*) FROM users').pluck().get()).toBe(0);
    await app.close();
    announced.length = 0;
  });

  it('is offered only from this machine, while bound to loopback, with the printed code, and only once', async () => {
    const app = make();
    expect(announced).toEqual([`visor: no user exists yet; the review UI's first-admin setup code is ${CODE}\n`]);
    const payload = { name: 'boss', password: 'first-admin-pw', code: CODE };
    expect((await app.inject({ url: '/api/auth/state', remoteAddress: '192.168.1.20' })).json()).toEqual({ setupAvailable: false });
    expect((await app.inject({ method: 'POST', url: '/api/auth/setup', remoteAddress: '192.168.1.20', payload })).statusCode).toBe(403);
    const exposed = make({ host: '0.0.0.0' });
    expect((await exposed.inject({ method: 'POST', url: '/api/auth/setup', payload })).statusCode).toBe(403);
    const off = make({ auth: { firstAdminSetup: false } });
    expect((await off.inject({ method: 'POST', url: '/api/auth/setup', payload })).statusCode).toBe(403);
    // Neither of them offers setup, so neither prints a code.
    expect(announced).toHaveLength(1);
    expect((await app.inject({ method: 'POST', url: '/api/auth/setup', payload: { ...payload, password: 'short' } })).statusCode).toBe(400);

    // Without the code, or with a wrong one: refused.
    const { code: _, ...noCode } = payload;
    const without = await app.inject({ method: 'POST', url: '/api/auth/setup', payload: noCode });
    expect([without.statusCode, without.json().error]).toEqual([400, "body must have required property 'code'"]);
    const wrong = await app.inject({ method: 'POST', url: '/api/auth/setup', payload: { ...payload, code: 'AAAA-BBBB-CCCC' } });
    expect([wrong.statusCode, wrong.json().code]).toEqual([403, 'SETUP_CODE']);
    expect(fresh.db.prepare('SELECT COUNT(*) FROM users').pluck().get()).toBe(0);

    expect((await app.inject({ url: '/api/auth/state' })).json()).toEqual({ setupAvailable: true });
    // The code as retyped by a person: lower case, without dashes.
    const res = await app.inject({ method: 'POST', url: '/api/auth/setup', headers: { origin: 'http://localhost:8080' }, payload: { ...payload, code: 'k7qxm2pd9wta' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ user: { name: 'boss', role: 'admin' } });
    expect(String(res.headers['set-cookie'])).toContain('HttpOnly');
    expect((await app.inject({ method: 'POST', url: '/api/auth/setup', payload: { name: 'other', password: 'second-admin', code: CODE } })).statusCode).toBe(403);
    expect(fresh.db.prepare("SELECT user, action FROM audit WHERE action = 'user.setup'").get()).toEqual({ user: 'boss', action: 'user.setup' });
    // The next start has a user: no code, no setup.
    const again = make();
    expect(announced).toHaveLength(1);
    expect((await again.inject({ url: '/api/auth/state' })).json()).toEqual({ setupAvailable: false });
    await Promise.all([app.close(), exposed.close(), off.close(), again.close()]);
  });
});

describe('roles', () => {
  let app: FastifyInstance;
  const s: Record<string, Session> = {};
  beforeAll(async () => {
    app = build();
    for (const role of ['admin', 'engineer', 'operator'] as const) s[role] = await signIn(app, role);
  });
  afterAll(() => app.close());

  it('operator reviews; engineer also sets thresholds; admin also manages users', async () => {
    const cases: [string, string, string, unknown, Record<string, number>][] = [
      ['GET', '/api/inspections', '', undefined, { operator: 200, engineer: 200, admin: 200 }],
      ['GET', '/api/settings/thresholds', '', undefined, { operator: 403, engineer: 200, admin: 200 }],
      ['POST', '/api/settings/thresholds/cells/preview', '', { thresholds: { defect: 1, uncertainBand: 0.2 } }, { operator: 403, engineer: 200, admin: 200 }],
      ['GET', '/api/audit', '', undefined, { operator: 403, engineer: 200, admin: 200 }],
      ['GET', '/api/users', '', undefined, { operator: 403, engineer: 403, admin: 200 }],
      ['GET', '/api/tokens', '', undefined, { operator: 403, engineer: 403, admin: 200 }],
      ['POST', '/api/users', '', { name: 'x1', role: 'admin', password: 'whatever-1' }, { operator: 403, engineer: 403 }],
    ];
    for (const [method, url, , payload, expected] of cases) {
      for (const [role, code] of Object.entries(expected)) {
        const res = await app.inject({ method: method as 'GET', url, headers: as(s[role]!), payload: payload as object });
        expect([method, url, role, res.statusCode]).toEqual([method, url, role, code]);
      }
    }
  });
});

describe('queue', () => {
  let app: FastifyInstance;
  let s: Session;
  beforeAll(async () => {
    app = build();
    s = await signIn(app, 'operator');
  });
  afterAll(() => app.close());
  const list = async (q: string) => {
    const res = await app.inject({ url: `/api/inspections?${q}`, headers: as(s) });
    expect([q, res.statusCode]).toEqual([q, 200]);
    return res.json<{ items: (Inspection & { imageUrl?: string; review?: { decision: string } })[]; next?: string }>();
  };

  it('lists flagged inspections newest first and pages them with a cursor, without gaps or repeats', async () => {
    const flagged = inspections.filter((i) => i.verdict !== 'ok').reverse();
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const page = await list(`verdict=flagged&limit=7${next ? `&before=${next}` : ''}`);
      seen.push(...page.items.map((i) => i.id));
      next = page.next;
    } while (next);
    expect(seen).toEqual(flagged.map((i) => i.id));
    const first = (await list('verdict=flagged&limit=1')).items[0]!;
    expect(first.imageUrl).toBe(`/api/inspections/${first.id}/image`);
    expect(first).not.toHaveProperty('imagePath');
  });

  it('shows every field of the Inspection schema: one schema gives the type and the response', async () => {
    // Every optional field set (classes, boxes, source file, an overlay file and overlay data), so each must reach the response.
    const overlayData = { heatMap: { width: 1, height: 1, data: Float32Array.from([0.5]) } };
    const full = store.save(fullInspection({ cameraId: 'cells', timings: { queueMs: 1, preprocessMs: 2, inferenceMs: 3, postprocessMs: 4, encodeMs: 5 } }), { image: jpeg, overlay: jpeg, overlayData });
    try {
      const res = await app.inject({ url: `/api/inspections/${full.id}`, headers: as(s) });
      const shown = res.json<Record<string, unknown>>();
      const { imagePath: _image, overlayPath: _overlay, ...fields } = full;
      expect(shown).toMatchObject({ ...fields, imageUrl: `/api/inspections/${full.id}/image`, overlayUrl: `/api/inspections/${full.id}/overlay` });
      // Every property the schema names, optional ones included, reaches the client (paths as URLs).
      const expected = Object.keys(InspectionSchema.properties).map((k) => (k === 'imagePath' ? 'imageUrl' : k === 'overlayPath' ? 'overlayUrl' : k));
      expect(Object.keys(shown).filter((k) => expected.includes(k)).sort()).toEqual([...expected].sort());
      expect(Object.keys(shown.timings as object).sort()).toEqual(['encodeMs', 'inferenceMs', 'postprocessMs', 'preprocessMs', 'queueMs', 'storeMs']);
    } finally {
      store.db.prepare('DELETE FROM inspections WHERE id = ?').run(full.id);
    }
  });

  it('filters by camera, verdict, score range, time, model and review state', async () => {
    const ids = (items: { id: string }[]) => items.map((i) => i.id);
    const expectIds = (items: { id: string }[], pick: (i: Inspection) => boolean) => expect(ids(items)).toEqual(inspections.filter(pick).reverse().map((i) => i.id));
    expectIds((await list('verdict=flagged&camera=dock')).items, (i) => i.verdict !== 'ok' && i.cameraId === 'dock');
    expectIds((await list('verdict=uncertain&limit=500')).items, (i) => i.verdict === 'uncertain');
    // A score range below the defect threshold: the uncertain ones, and with all verdicts the near-misses too.
    expectIds((await list('verdict=flagged&minScore=0.8&maxScore=0.99')).items, (i) => i.verdict !== 'ok' && i.score >= 0.8 && i.score <= 0.99);
    expectIds((await list('verdict=all&minScore=0.33&maxScore=0.99&limit=500')).items, (i) => i.score >= 0.33 && i.score <= 0.99);
    expectIds((await list(`verdict=all&from=${T0 + 10 * 60_000}&to=${T0 + 20 * 60_000}`)).items, (i) => i.capturedAt >= T0 + 10 * 60_000 && i.capturedAt <= T0 + 20 * 60_000);
    expectIds((await list('verdict=all&model=0.2.0')).items, (i) => i.model.version === '0.2.0');

    const target = inspections[9]!;
    const op = await signIn(app, 'operator');
    await app.inject({ method: 'POST', url: '/api/reviews', headers: as(op), payload: { ids: [target.id], decision: 'confirmed' } });
    expect(ids((await list('verdict=flagged&review=confirmed')).items)).toEqual([target.id]);
    expect(ids((await list('verdict=flagged&review=unreviewed&limit=500')).items)).not.toContain(target.id);
    await app.inject({ method: 'POST', url: '/api/reviews/undo', headers: as(op), payload: { ids: [target.id] } });
    expect(ids((await list('verdict=flagged&review=unreviewed&limit=500')).items)).toContain(target.id);
  });

  it('rejects bad query parameters with a 400 naming them', async () => {
    for (const q of ['limit=0', 'limit=501', 'verdict=maybe', 'before=../../etc', 'camera=Bad%20Cam', 'minScore=abc', 'review=later', 'from=-5', 'extra=1']) {
      const res = await app.inject({ url: `/api/inspections?${q}`, headers: as(s) });
      expect([q, res.statusCode]).toEqual([q, 400]);
      expect(res.json<{ error: string }>().error).toMatch(new RegExp(`${q.split('=')[0]}|additional properties`));
    }
    expect((await app.inject({ url: '/api/inspections/not-an-id', headers: as(s) })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/inspections/00000000-0000-7000-8000-000000000000', headers: as(s) })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/stats?from=10&to=5', headers: as(s) })).statusCode).toBe(400);
  });

  it('serves images only through the stored row: path traversal gets nowhere', async () => {
    const flagged = inspections.find((i) => i.verdict === 'defect')!;
    const ok = await app.inject({ url: `/api/inspections/${flagged.id}/image`, headers: as(s) });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toBe('image/jpeg');
    expect(ok.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    for (const url of [
      `/api/inspections/..%2F..%2Fvisor.db/image`,
      `/api/inspections/${flagged.id}/..%2F..%2Fvisor.db`,
      `/api/inspections/${flagged.id}/image%00`,
      `/api/inspections/%2e%2e/image`,
      `/api/live/..%2F..%2Fvisor.db/frame.jpg`,
      `/assets/..%2F..%2Fvisor.db`,
      `/assets/.env`,
    ]) {
      const res = await app.inject({ url, headers: as(s) });
      // Refused by the schema (400), or matching no route at all (404): never a file.
      expect([url, [400, 404].includes(res.statusCode)]).toEqual([url, true]);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    }
    // A row whose path was tampered with to point outside the images folder is refused too.
    const victim = inspections.find((i) => i.verdict === 'uncertain')!;
    store.db.prepare('UPDATE inspections SET image_path = ? WHERE id = ?').run('images/../visor.db', victim.id);
    expect((await app.inject({ url: `/api/inspections/${victim.id}/image`, headers: as(s) })).statusCode).toBe(404);
    store.db.prepare('UPDATE inspections SET image_path = ? WHERE id = ?').run(victim.imagePath, victim.id);
    const ok2 = inspections.find((i) => i.verdict === 'ok')!;
    expect((await app.inject({ url: `/api/inspections/${ok2.id}/image`, headers: as(s) })).statusCode).toBe(404);
  });

  it('shows one inspection with its history and neighbours from the same camera', async () => {
    const mid = inspections[20]!;
    const res = await app.inject({ url: `/api/inspections/${mid.id}/neighbours?count=2`, headers: as(s) });
    expect(res.json()).toMatchObject({ before: [{ id: inspections[19]!.id }, { id: inspections[18]!.id }], after: [{ id: inspections[21]!.id }, { id: inspections[22]!.id }] });
    expect((await app.inject({ url: `/api/inspections/${mid.id}/neighbours?count=99`, headers: as(s) })).statusCode).toBe(400);
    const detail = await app.inject({ url: `/api/inspections/${mid.id}`, headers: as(s) });
    expect(detail.json()).toMatchObject({ id: mid.id, score: mid.score, thresholds: mid.thresholds, history: [] });
  });
});

describe('verdicts', () => {
  let app: FastifyInstance;
  let s: Session;
  beforeAll(async () => {
    app = build();
    s = await signIn(app, 'operator');
  });
  afterAll(() => app.close());
  const post = (url: string, payload: unknown): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url, headers: as(s), payload: payload as object });

  it('stores each verdict with user and time, then announces it on the bus with the label', async () => {
    const [a, b, c] = inspections.filter((i) => i.verdict === 'defect').slice(6, 9) as [Inspection, Inspection, Inspection];
    const before = reviews.length;
    expect((await post('/api/reviews', { ids: [a.id, b.id], decision: 'rejected', note: 'glare' })).statusCode).toBe(200);
    expect((await post('/api/reviews', { ids: [c.id], decision: 'relabeled', label: 'crack' })).statusCode).toBe(200);
    const rows = store.db.prepare('SELECT inspection_id, decision, label, user, note, created_at FROM reviews WHERE inspection_id IN (?, ?, ?) ORDER BY id').all(a.id, b.id, c.id);
    expect(rows).toMatchObject([
      { inspection_id: a.id, decision: 'rejected', label: 'good', user: 'operator', note: 'glare' },
      { inspection_id: b.id, decision: 'rejected', label: 'good', user: 'operator' },
      { inspection_id: c.id, decision: 'relabeled', label: 'crack', user: 'operator' },
    ]);
    expect(reviews.slice(before).map((r) => [r.inspectionId, r.decision, r.label, r.user])).toEqual([
      [a.id, 'rejected', 'good', 'operator'],
      [b.id, 'rejected', 'good', 'operator'],
      [c.id, 'relabeled', 'crack', 'operator'],
    ]);

    // Undo pops the latest: back to the previous verdict's label, then to no review.
    await post('/api/reviews', { ids: [c.id], decision: 'confirmed' });
    const undo1 = await post('/api/reviews/undo', { ids: [c.id] });
    expect(undo1.json()).toMatchObject({ reviews: [{ inspectionId: c.id, decision: 'undone', label: 'crack' }] });
    const undo2 = await post('/api/reviews/undo', { ids: [c.id] });
    expect(undo2.json<{ reviews: { label?: string }[] }>().reviews[0]!.label).toBeUndefined();
    expect((await post('/api/reviews/undo', { ids: [c.id] })).json()).toEqual({ reviews: [] });
    expect(reviews.at(-1)).toMatchObject({ inspectionId: c.id, decision: 'undone', label: undefined });
    const detail = await app.inject({ url: `/api/inspections/${c.id}`, headers: as(s) });
    expect(detail.json()).not.toHaveProperty('review');
    expect(detail.json<{ history: unknown[] }>().history).toHaveLength(4);
  });

  it('rejects bad bodies and unknown ids, storing nothing', async () => {
    const id = inspections[0]!.id;
    const count = () => store.db.prepare('SELECT COUNT(*) FROM reviews').pluck().get();
    const n = count();
    for (const body of [
      {},
      { ids: [], decision: 'confirmed' },
      { ids: [id], decision: 'maybe' },
      { ids: [id, id], decision: 'confirmed' },
      { ids: ['../x'], decision: 'confirmed' },
      { ids: [id], decision: 'relabeled' },
      { ids: [id], decision: 'confirmed', label: 'crack' },
      { ids: [id], decision: 'relabeled', label: '<script>' },
      { ids: [id], decision: 'confirmed', user: 'someone-else' },
      { ids: Array.from({ length: 501 }, () => id), decision: 'confirmed' },
    ]) {
      const res = await post('/api/reviews', body);
      expect([JSON.stringify(body).slice(0, 60), res.statusCode]).toEqual([JSON.stringify(body).slice(0, 60), 400]);
    }
    const res = await post('/api/reviews', { ids: [id, '00000000-0000-7000-8000-000000000000'], decision: 'confirmed' });
    expect(res.statusCode).toBe(404);
    expect(count()).toBe(n);
    // What an HTML form could send cross-site is not even parsed.
    expect((await app.inject({ method: 'POST', url: '/api/reviews', headers: { ...as(s), 'content-type': 'application/x-www-form-urlencoded' }, payload: `ids=${id}` })).statusCode).toBe(415);
  });
});

describe('settings', () => {
  let app: FastifyInstance;
  let s: Session;
  beforeAll(async () => {
    app = build();
    s = await signIn(app, 'engineer');
  });
  afterAll(() => app.close());

  it('previews how many recent inspections of the running model would change verdict', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/settings/thresholds/cells/preview', headers: as(s), payload: { thresholds: { defect: 1.2, uncertainBand: 0.2 } } });
    const mine = inspections.filter((i) => i.cameraId === 'cells');
    const expected = mine.filter((i) => {
      const v = i.score >= 1.2 ? 'defect' : i.score >= 1.0 ? 'uncertain' : 'ok';
      return v !== i.verdict;
    });
    expect(res.json()).toMatchObject({ considered: mine.length, changed: expected.length });
    expect(expected.length).toBeGreaterThan(0);
  });

  it('applies thresholds through the line control, saves and audits them; rejects bad values', async () => {
    // The uncertain band now starts at 1.2 instead of 0.8: a change that big needs confirming.
    const unconfirmed = await app.inject({ method: 'PUT', url: '/api/settings/thresholds/cells', headers: as(s), payload: { defect: 1.3, uncertainBand: 0.1 } });
    expect([unconfirmed.statusCode, unconfirmed.json<{ code: string }>().code]).toEqual([409, 'CONFIRM']);
    expect(control.thresholds('cells')).toEqual({ defect: 1, uncertainBand: 0.2 });
    expect(thresholdEvents).toEqual([]);
    const res = await app.inject({ method: 'PUT', url: '/api/settings/thresholds/cells', headers: as(s), payload: { defect: 1.3, uncertainBand: 0.1, confirm: true } });
    expect(res.statusCode).toBe(200);
    expect(control.thresholds('cells')).toEqual({ defect: 1.3, uncertainBand: 0.1 });
    expect(control.thresholds('dock')).toEqual({ defect: 1, uncertainBand: 0.2 });
    expect(thresholdEvents).toEqual([{ cameraId: 'cells', thresholds: { defect: 1.3, uncertainBand: 0.1 }, source: 'review:engineer' }]);
    const audit = await app.inject({ url: '/api/audit', headers: as(s) });
    expect(audit.json<{ entries: unknown[] }>().entries[0]).toMatchObject({
      user: 'engineer',
      action: 'thresholds.set',
      target: 'cells',
      detail: { before: { defect: 1, uncertainBand: 0.2 }, after: { defect: 1.3, uncertainBand: 0.1 } },
    });
    expect(store.db.prepare("SELECT value FROM review_settings WHERE key = 'thresholds.cells'").pluck().get()).toBe('{"defect":1.3,"uncertainBand":0.1}');
    for (const [url, body] of [
      ['/api/settings/thresholds/cells', { defect: 'high', uncertainBand: 0.1 }],
      ['/api/settings/thresholds/cells', { defect: 1, uncertainBand: -1 }],
      ['/api/settings/thresholds/cells', { defect: 1 }],
      ['/api/settings/thresholds/Cells!', { defect: 1, uncertainBand: 0.1 }],
    ] as const) {
      expect((await app.inject({ method: 'PUT', url, headers: as(s), payload: body })).statusCode).toBe(400);
    }
    expect(control.thresholds('cells')).toEqual({ defect: 1.3, uncertainBand: 0.1 });
    expect(thresholdEvents).toHaveLength(1);
    expect((await app.inject({ method: 'PUT', url: '/api/settings/thresholds/nowhere', headers: as(s), payload: { defect: 1, uncertainBand: 0 } })).statusCode).toBe(404);
  });

  it("refuses thresholds outside the model's score range or a band as wide as the threshold, naming the field in a sentence", async () => {
    const before = control.thresholds('cells');
    const events = thresholdEvents.length;
    for (const [body, field, text] of [
      [{ defect: -5, uncertainBand: 0.1 }, 'defect', 'must be above 0: at -5 every frame would be a defect'],
      [{ defect: 0, uncertainBand: 0 }, 'defect', 'must be above 0'],
      [{ defect: 1.2, uncertainBand: 1.2 }, 'uncertainBand', 'narrower than the defect threshold (1.2)'],
      [{ defect: 1.2, uncertainBand: 5 }, 'uncertainBand', 'every ok frame would go to review'],
    ] as const) {
      for (const [method, url, payload] of [
        ['PUT', '/api/settings/thresholds/cells', { ...body, confirm: true }],
        ['POST', '/api/settings/thresholds/cells/preview', { thresholds: body }],
      ] as const) {
        const res = await app.inject({ method, url, headers: as(s), payload });
        expect([url, res.statusCode, res.json<{ code: string }>().code]).toEqual([url, 400, 'OUT_OF_BOUNDS']);
        expect(res.json<{ fields: Record<string, string> }>().fields[field]).toContain(text);
      }
    }
    expect(control.thresholds('cells')).toEqual(before);
    expect(thresholdEvents).toHaveLength(events);
  });

  it('previews against the thresholds in force: after Apply, the same values change nothing', async () => {
    const proposed = { ...control.thresholds('cells') };
    const res = await app.inject({ method: 'POST', url: '/api/settings/thresholds/cells/preview', headers: as(s), payload: { thresholds: proposed } });
    expect(res.json()).toMatchObject({ changed: 0, transitions: {} });
    // Stored verdicts were made with (1, 0.2), the thresholds now in force differ: the stored verdicts are not the reference.
    expect(inspections.filter((i) => i.cameraId === 'cells').some((i) => i.thresholds.defect !== proposed.defect)).toBe(true);
  });

  it("names where each camera's value comes from, resets to the model's calibrated value, and audits it", async () => {
    const get = async () => (await app.inject({ url: '/api/settings/thresholds', headers: as(s) })).json<{
      calibrated: { defect: number; uncertainBand: number };
      scoreRange: { min: number; max?: number };
      confirmChange: number;
      cameras: { cameraId: string; thresholds: { defect: number }; source: { kind: string; by?: string } }[];
    }>();
    const shown = await get();
    expect(shown).toMatchObject({ calibrated: { defect: 1, uncertainBand: 0.2 }, scoreRange: { min: 0 }, confirmChange: 0.25 });
    expect(shown.cameras.find((c) => c.cameraId === 'cells')!.source).toMatchObject({ kind: 'ui', by: 'engineer' });
    expect(shown.cameras.find((c) => c.cameraId === 'dock')!.source).toEqual({ kind: 'model' });
    const reset = await app.inject({ method: 'POST', url: '/api/settings/thresholds/cells/reset', headers: as(s) });
    expect(reset.statusCode).toBe(200);
    expect(control.thresholds('cells')).toEqual({ defect: 1, uncertainBand: 0.2 });
    expect(store.db.prepare("SELECT value FROM review_settings WHERE key = 'thresholds.cells'").pluck().get()).toBe('{"defect":1,"uncertainBand":0.2}');
    const audit = store.db.prepare("SELECT user, action, target FROM audit WHERE action LIKE 'thresholds.%' ORDER BY id DESC LIMIT 1").get();
    expect(audit).toEqual({ user: 'engineer', action: 'thresholds.reset', target: 'cells' });
    // Operators may not.
    const operator = await signIn(app, 'operator');
    expect((await app.inject({ method: 'POST', url: '/api/settings/thresholds/cells/reset', headers: as(operator) })).statusCode).toBe(403);
  });

  it('lets the module twin win when it re-applies its desired document on reconnect, and shows it came from the twin', async () => {
    const twin = createTwinApplier({ control, cameraIds: cameras.map((c) => c.cameraId), bus, log: silentLogger(), setSendUncertain() {}, updateModel() {} });
    const desired = { $version: 7, cameras: { cells: { thresholds: { defect: 1.1 } } } };
    expect(twin.apply(desired).status).toBe('applied');
    expect(control.thresholds('cells').defect).toBe(1.1);
    const put = await app.inject({ method: 'PUT', url: '/api/settings/thresholds/cells', headers: as(s), payload: { defect: 1.15, uncertainBand: 0.2 } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ thresholds: { defect: 1.15 }, source: { kind: 'ui', by: 'engineer', twin: true } });
    // The connection drops and comes back: the SDK hands the same desired document again.
    expect(twin.apply(desired).status).toBe('applied');
    expect(control.thresholds('cells')).toEqual({ defect: 1.1, uncertainBand: 0.2 });
    const shown = (await app.inject({ url: '/api/settings/thresholds', headers: as(s) })).json<{ cameras: { cameraId: string; source: unknown }[] }>();
    expect(shown.cameras.find((c) => c.cameraId === 'cells')!.source).toMatchObject({ kind: 'twin', twin: true });
    const audit = store.db.prepare("SELECT user, detail FROM audit WHERE action = 'thresholds.set' ORDER BY id DESC LIMIT 1").get() as { user: string; detail: string };
    expect([audit.user, JSON.parse(audit.detail)]).toEqual(['twin', { after: { defect: 1.1, uncertainBand: 0.2 } }]);
  });
});

describe('users', () => {
  let app: FastifyInstance;
  let s: Session;
  beforeAll(async () => {
    app = build();
    s = await signIn(app, 'admin');
  });
  afterAll(() => app.close());

  it('adds users, refuses duplicates and weak passwords, and disabling ends their sessions', async () => {
    const add = (payload: object) => app.inject({ method: 'POST', url: '/api/users', headers: as(s), payload });
    expect((await add({ name: 'sam', role: 'operator', password: 'sam-password' })).statusCode).toBe(201);
    expect((await add({ name: 'SAM', role: 'operator', password: 'sam-password' })).statusCode).toBe(409);
    expect((await add({ name: 'kim', role: 'operator', password: 'short' })).statusCode).toBe(400);
    expect((await add({ name: 'kim', role: 'root', password: 'kim-password' })).statusCode).toBe(400);
    expect((await add({ name: '../kim', role: 'operator', password: 'kim-password' })).statusCode).toBe(400);
    const sam = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'sam', password: 'sam-password' } });
    const samCookie = String(sam.headers['set-cookie']).split(';')[0]!;
    expect((await app.inject({ url: '/api/status', headers: { cookie: samCookie } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'PATCH', url: '/api/users/sam', headers: as(s), payload: { disabled: true } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/status', headers: { cookie: samCookie } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { name: 'sam', password: 'sam-password' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'PATCH', url: '/api/users/admin', headers: as(s), payload: { role: 'operator' } })).statusCode).toBe(409);
    expect((await app.inject({ method: 'PATCH', url: '/api/users/nobody', headers: as(s), payload: { role: 'operator' } })).statusCode).toBe(404);
    expect((await app.inject({ method: 'PATCH', url: '/api/users/sam', headers: as(s), payload: {} })).statusCode).toBe(400);
    const actions = store.db.prepare("SELECT action, target FROM audit WHERE user = 'admin' AND action LIKE 'user.%' ORDER BY id").all();
    expect(actions).toEqual([
      { action: 'user.add', target: 'sam' },
      { action: 'user.update', target: 'sam' },
    ]);
    // Passwords never reach the audit log or the API.
    expect(JSON.stringify(store.db.prepare('SELECT detail FROM audit').pluck().all())).not.toContain('sam-password');
    expect((await app.inject({ url: '/api/users', headers: as(s) })).body).not.toContain('scrypt');
  });
});

describe('live frames and the page', () => {
  it('serves the newest frame of a camera with its overlay, encoded on request', async () => {
    const app = build();
    const s = await signIn(app, 'operator');
    expect((await app.inject({ url: '/api/live/cells/frame.jpg', headers: as(s) })).statusCode).toBe(404);
    const { data, info } = await sharp(path.join(FIXTURES, 'cell0030.png')).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const pixels = Buffer.from(data);
    const stored = inspections.find((i) => i.cameraId === 'cells')!;
    const frame = { cameraId: 'cells', seq: 77, capturedAt: Date.now(), width: info.width, height: info.height, pixelFormat: 'rgb24' as const, data: pixels, release() {} };
    lendFrame(frame, (lent) =>
      bus.emit('inspection', {
        inspection: stored,
        frame: lent,
        output: { score: 1.5, heatMap: { width: 4, height: 4, data: new Float32Array(16).fill(0.5) } },
        storedAt: Date.now(),
        requested: false,
      }),
    );
    // The pool buffer is reused by the next frame: the live view kept its own copy.
    pixels.fill(0);
    const res = await app.inject({ url: '/api/live/cells/frame.jpg', headers: as(s) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-frame-seq']).toBe('77');
    const stats = await sharp(res.rawPayload).stats();
    expect(stats.channels[0]!.mean).toBeGreaterThan(20);
    const live = await app.inject({ url: '/api/live', headers: as(s) });
    expect(live.json()).toMatchObject({ cameras: [{ cameraId: 'cells', state: 'online', latest: { seq: 77 } }, { cameraId: 'dock', state: 'reconnecting' }] });
    await app.close();
  });

  it('answers 503 with the fix when the UI is not built, and serves it with a strict CSP when it is', async () => {
    const app = build();
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
    await app.close();

    const built = build(reviewConfig(), { uiDir: await ensureUiBuilt() });
    const page = await built.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.body)![1]!;
    const asset = await built.inject({ url: script });
    expect([asset.statusCode, asset.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    await built.close();
  });
});

describe('validation errors', () => {
  it('names each bad field with a sentence a user can act on, beside the validator text', async () => {
    const app = build();
    const s = await signIn(app, 'admin');
    const add = async (payload: object) => (await app.inject({ method: 'POST', url: '/api/users', headers: as(s), payload })).json<{ error: string; fields: Record<string, string> }>();
    expect((await add({ name: 'kim', role: 'operator', password: 'short' })).fields).toEqual({ password: 'Password needs at least 8 characters.' });
    expect((await add({ name: '../kim', role: 'operator', password: 'kim-password' })).fields).toEqual({
      name: 'A user name is up to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.',
    });
    expect((await add({ role: 'operator', password: 'kim-password' })).fields).toEqual({ name: 'Name is required.' });
    const bad = await add({ name: 'kim', role: 'operator', password: 'short' });
    expect(bad.error).toContain('password');
    await app.close();
  });
});

describe('stats', () => {
  it('counts verdicts by reviewer as the agreement table does: an undone verdict counts for no one', async () => {
    const app = build();
    const s = await signIn(app, 'operator');
    const target = inspections.filter((i) => i.verdict === 'uncertain' && i.cameraId === 'cells').at(-1)!;
    const stats = async () =>
      (await app.inject({ url: `/api/stats?from=${T0}&to=${T0 + 2 * 3600_000}`, headers: as(s) })).json<{ reviewers: { user: string; n: number }[]; agreement: { n: number }[] }>();
    const count = (x: Awaited<ReturnType<typeof stats>>) => x.reviewers.find((r) => r.user === 'operator')?.n ?? 0;
    const before = await stats();
    await app.inject({ method: 'POST', url: '/api/reviews', headers: as(s), payload: { ids: [target.id], decision: 'confirmed' } });
    expect(count(await stats())).toBe(count(before) + 1);
    await app.inject({ method: 'POST', url: '/api/reviews/undo', headers: as(s), payload: { ids: [target.id] } });
    const after = await stats();
    expect(count(after)).toBe(count(before));
    expect(after.reviewers.reduce((n, r) => n + r.n, 0)).toBe(after.agreement.reduce((n, a) => n + a.n, 0));
    await app.close();
  });
});

describe('line board', () => {
  it('counts each camera for the shift and the last hour, with the defect rate, the last defect and the alarms', async () => {
    const now = T0 + 60 * 60_000;
    const app = build(reviewConfig(), { now: () => now });
    const s = await signIn(app, 'operator');
    const res = await app.inject({ url: '/api/board', headers: as(s) });
    expect(res.statusCode).toBe(200);
    const board = res.json<{
      shift: { name: string; start: number; end: number };
      cameras: { cameraId: string; state: string; shift: Record<Verdict, number>; lastHour: Record<Verdict, number>; defectRate: { lastHour?: number; trend: string }; rateSeries: (number | null)[]; lastDefect?: { id: string; imageUrl?: string } }[];
      alarms: { kind: string; cameraId?: string; message: string }[];
    }>();
    const cells = board.cameras.find((c) => c.cameraId === 'cells')!;
    // Seeded: cells has inspections 0..49 a minute apart from T0, every 3rd a defect, the next uncertain.
    expect(cells.lastHour).toEqual({ defect: 17, uncertain: 17, ok: 16 });
    expect(cells.defectRate.lastHour).toBeCloseTo(17 / 50, 6);
    expect(cells.defectRate.trend).toBe('none');
    expect(cells.rateSeries).toHaveLength(12);
    expect(cells.rateSeries.slice(0, 10).every((r) => r !== null && r > 0)).toBe(true);
    expect(cells.rateSeries.slice(10)).toEqual([null, null]);
    expect(cells.lastDefect).toEqual(expect.objectContaining({ id: inspections[48]!.id, imageUrl: `/api/inspections/${inspections[48]!.id}/image` }));
    const inShift = inspections.filter((i) => i.cameraId === 'cells' && i.capturedAt >= board.shift.start);
    expect(cells.shift.defect + cells.shift.uncertain + cells.shift.ok).toBe(inShift.length);
    expect(board.shift.start).toBeLessThanOrEqual(now);
    expect(board.shift.end).toBeGreaterThan(now);
    expect(board.cameras.find((c) => c.cameraId === 'dock')).toMatchObject({ state: 'reconnecting', lastHour: { defect: 3, uncertain: 3, ok: 4 } });
    expect(board.alarms).toEqual([{ kind: 'camera', cameraId: 'dock', message: 'camera dock reconnecting' }]);
    await app.close();
  });

  it('counts right as time goes on: minutes read once when settled, the last ones at every refresh', () => {
    const board = createBoardQueries(store.db);
    const T1 = T0 + 10 * 3600_000;
    const press: CameraStatus[] = [{ cameraId: 'press', state: 'online', framesIn: 0, framesDropped: 0, framesCorrupt: 0, reconnects: 0 }];
    const saved: Inspection[] = [];
    const add = (from: number, to: number) => {
      for (let t = from; t < to; t += 7_000) saved.push(store.save(inspection(saved.length % 4 === 0 ? 'defect' : 'ok', 0.5, saved.length, t, 'press')));
    };
    const expected = (now: number, from: number) => {
      const c = { ok: 0, uncertain: 0, defect: 0 };
      for (const i of saved) if (i.capturedAt >= from && i.capturedAt <= now) c[i.verdict] += 1;
      return c;
    };
    const shift = { name: 'x', start: T1, end: T1 + 8 * 3600_000 };
    add(T1, T1 + 20 * 60_000);
    for (const now of [T1 + 20 * 60_000, T1 + 23 * 60_000 + 500, T1 + 41 * 60_000, T1 + 95 * 60_000]) {
      // Inspections keep arriving up to `now`, also within the minutes the last refresh read fresh.
      add(saved.at(-1)!.capturedAt + 7_000, now);
      const [shown] = board.cameras({ now, shift, cameras: press, imageUrl: (id) => id });
      expect([now, shown!.shift]).toEqual([now, expected(now, T1)]);
      expect([now, shown!.lastHour]).toEqual([now, expected(now, (Math.floor(now / 60_000) - 60) * 60_000)]);
    }
  });

  it('finds the shift from the configured local start times, across midnight', () => {
    const local = (d: number, h: number, m = 0) => new Date(2026, 0, d, h, m).getTime();
    const shifts = ['06:00', '14:00', '22:00'];
    expect(currentShift(local(5, 7), shifts)).toEqual({ name: '06:00', start: local(5, 6), end: local(5, 14) });
    expect(currentShift(local(5, 23), shifts)).toEqual({ name: '22:00', start: local(5, 22), end: local(6, 6) });
    expect(currentShift(local(6, 2), shifts)).toEqual({ name: '22:00', start: local(5, 22), end: local(6, 6) });
    expect(currentShift(local(5, 14), shifts)).toEqual({ name: '14:00', start: local(5, 14), end: local(5, 22) });
    expect(currentShift(local(5, 12), ['07:30'])).toEqual({ name: '07:30', start: local(5, 7, 30), end: local(6, 7, 30) });
  });
});

describe('reference frames', () => {
  it('takes a good frame with its image as the camera reference, refusing others, and serves it', async () => {
    const app = build();
    const s = await signIn(app, 'engineer');
    const put = (camera: string, id: string, session = s) => app.inject({ method: 'PUT', url: `/api/references/${camera}`, headers: as(session), payload: { id } });
    const defects = inspections.filter((i) => i.verdict === 'defect' && i.cameraId === 'cells');
    const good = defects.at(-2)!;
    expect((await put('cells', good.id)).json<{ code: string }>().code).toBe('NOT_GOOD');
    const okNoImage = inspections.find((i) => i.verdict === 'ok' && i.cameraId === 'cells')!;
    expect((await put('cells', okNoImage.id)).json<{ code: string }>().code).toBe('NO_IMAGE');
    await app.inject({ method: 'POST', url: '/api/reviews', headers: as(s), payload: { ids: [good.id], decision: 'rejected' } });
    expect((await put('dock', good.id)).json<{ code: string }>().code).toBe('WRONG_CAMERA');
    expect((await put('cells', good.id, await signIn(app, 'operator'))).statusCode).toBe(403);
    expect((await put('cells', good.id)).statusCode).toBe(200);
    const shown = await app.inject({ url: '/api/references', headers: as(s) });
    expect(shown.json()).toMatchObject({ references: { cells: { id: good.id, imageUrl: `/api/inspections/${good.id}/image`, setBy: 'engineer' } } });
    expect((await app.inject({ method: 'DELETE', url: '/api/references/cells', headers: as(s) })).statusCode).toBe(204);
    expect((await app.inject({ url: '/api/references', headers: as(s) })).json()).toEqual({ references: {} });
    expect(store.db.prepare("SELECT action FROM audit WHERE action LIKE 'reference.%' ORDER BY id").pluck().all()).toEqual(['reference.set', 'reference.clear']);
    await app.close();
  });

  it('answers 503 to a sample request where no line runs', async () => {
    const app = build();
    const s = await signIn(app, 'operator');
    expect((await app.inject({ method: 'POST', url: '/api/live/cells/sample', headers: as(s) })).statusCode).toBe(503);
    await app.close();
  });
});
