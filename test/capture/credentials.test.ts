// Cameras that authenticate: HTTP snapshot servers that really check Basic and Digest
// (RFC 7616, verified here independently of src/), and secrets that never reach lastError or the log.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { createLogger, type Logger } from '../../src/common/log.js';
import { cameraConfig, takeFrames } from './helpers.js';
import { fixtureImages } from '../helpers/media.js';
import { until } from '../helpers/wait.js';

const USER = 'admin';
const PASSWORD = 'p@ss w0rd!';
const TOKEN = 'TOKEN-8f2c41';
const WRONG = 'wrong-Pa55';

type Mode = 'basic' | 'digest-md5' | 'digest-sha256';
interface Seen {
  authorized: number;
  challenged: number;
  ncs: number[];
  algorithms: string[];
}

let png: Buffer;
const servers: http.Server[] = [];
const cameras: Camera[] = [];

const hash = (alg: string, s: string): string => createHash(alg === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');

function digestParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.slice('Digest '.length).matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) out[m[1]!] = m[2] ?? m[3]!;
  return out;
}

/** A snapshot server that answers only requests with the token and the right credentials in `mode`. */
async function snapshotServer(mode: Mode): Promise<{ base: string; seen: Seen }> {
  const seen: Seen = { authorized: 0, challenged: 0, ncs: [], algorithms: [] };
  const nonces = new Set<string>();
  const realm = 'IP Camera';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const auth = req.headers.authorization ?? '';
    let ok = false;
    if (mode === 'basic') {
      ok = auth === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    } else if (auth.startsWith('Digest ')) {
      const p = digestParams(auth);
      const alg = p.algorithm ?? 'MD5';
      const wanted = mode === 'digest-md5' ? 'MD5' : 'SHA-256';
      const ha1 = hash(alg, `${p.username}:${realm}:${PASSWORD}`);
      const ha2 = hash(alg, `GET:${req.url}`);
      const expected = hash(alg, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
      ok = alg === wanted && p.username === USER && p.realm === realm && nonces.has(p.nonce!) && p.uri === req.url && p.qop === 'auth' && p.opaque === 'op4que' && p.response === expected;
      if (ok) {
        seen.ncs.push(parseInt(p.nc!, 16));
        seen.algorithms.push(alg);
      }
    }
    if (ok && url.searchParams.get('token') === TOKEN) {
      seen.authorized += 1;
      res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      return;
    }
    seen.challenged += 1;
    const challenges: string[] = [];
    if (mode === 'basic') challenges.push(`Basic realm="${realm}"`);
    else {
      const nonce = randomBytes(12).toString('hex');
      nonces.add(nonce);
      // A camera offering both lists SHA-256 first (RFC 7616 §3.7); the MD5 one only offers MD5.
      if (mode === 'digest-sha256') challenges.push(`Digest realm="${realm}", qop="auth,auth-int", algorithm=SHA-256, nonce="${nonce}", opaque="op4que"`);
      challenges.push(`Digest realm="${realm}", qop="auth", algorithm=MD5, nonce="${nonce}", opaque="op4que"`);
    }
    res.writeHead(401, { 'www-authenticate': challenges }).end('unauthorized');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { base: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
  return { log: createLogger({ destination, level: 'debug' }), lines };
}

function start(camera: Record<string, unknown>, log: Logger): Camera {
  const cam = createCamera({
    config: cameraConfig({ fps: 20, watchdog: { backoffInitialMs: 50, backoffMaxMs: 100 }, ...camera }),
    inferenceSize: { width: 32, height: 32 },
    baseDir: '.',
    log,
  });
  cameras.push(cam);
  cam.start();
  return cam;
}

beforeAll(async () => {
  png = await readFile((await fixtureImages())[0]!);
});

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const urlPassword = encodeURIComponent(PASSWORD);

describe('HTTP snapshot cameras that authenticate', () => {
  it('answers Basic with the user:password@ of the URL, keeps ?token= and sends Basic up front after the first challenge', async () => {
    const { base, seen } = await snapshotServer('basic');
    const cam = start({ source: `http://${USER}:${urlPassword}@${base}/snap.jpg?token=${TOKEN}` }, capturingLogger().log);
    const frames = await takeFrames(cam, 3);
    expect(frames[0]!.width).toBe(32);
    expect(cam.status()).toMatchObject({ state: 'online', reconnects: 0 });
    expect(seen.authorized).toBeGreaterThanOrEqual(3);
    expect(seen.challenged).toBe(1);
  });

  it.each([
    ['digest-md5', 'MD5'],
    ['digest-sha256', 'SHA-256'],
  ] as const)('answers %s (qop=auth, counting nc up on one nonce), credentials from the URL or from username/password', async (mode, algorithm) => {
    for (const camera of [
      { source: `http://${USER}:${urlPassword}@BASE/cgi-bin/snapshot.cgi?channel=1&token=${TOKEN}` },
      { source: `http://BASE/cgi-bin/snapshot.cgi?channel=1&token=${TOKEN}`, username: USER, password: PASSWORD },
    ]) {
      const { base, seen } = await snapshotServer(mode);
      const cam = start({ ...camera, source: camera.source.replace('BASE', base) }, capturingLogger().log);
      await takeFrames(cam, 3);
      expect(cam.status()).toMatchObject({ state: 'online', reconnects: 0 });
      expect(seen.challenged).toBe(1);
      expect(new Set(seen.algorithms)).toEqual(new Set([algorithm]));
      expect(seen.ncs.slice(0, 3)).toEqual([1, 2, 3]);
      await cam.stop();
    }
  });
});

describe('secrets in camera errors and logs', () => {
  it('a snapshot camera with a wrong password: lastError and every log line name neither the password nor the token', async () => {
    for (const mode of ['basic', 'digest-sha256'] as const) {
      const { base, seen } = await snapshotServer(mode);
      const { log, lines } = capturingLogger();
      const cam = start({ source: `http://${USER}:${WRONG}@${base}/snap.jpg?user=${USER}&password=${WRONG}&token=${TOKEN}` }, log);
      await until('two failed attempts', () => cam.status().reconnects >= 2);
      await cam.stop();
      expect(seen.authorized).toBe(0);
      const lastError = cam.status().lastError!;
      expect(lastError).toBe(`snapshot http://${base}/snap.jpg?user=${USER}&password=[REDACTED]&token=[REDACTED]: HTTP 401 Unauthorized (credentials of user "${USER}" refused)`);
      const text = lines.join('');
      expect(text).toContain('camera source failed');
      expect(text).toContain('camera starting');
      for (const secret of [WRONG, TOKEN, encodeURIComponent(WRONG)]) {
        expect(lastError).not.toContain(secret);
        expect(text).not.toContain(secret);
      }
    }
  });

  it('an RTSP URL with ?token= (and user:password@) is masked in lastError and in ffmpeg\'s log lines', async () => {
    // A port that was free a moment ago: ffmpeg's "Connection refused" echoes the URL.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const { log, lines } = capturingLogger();
    const cam = start({ source: `rtsp://${USER}:${WRONG}@127.0.0.1:${port}/cam1?token=${TOKEN}` }, log);
    await until('a failed attempt', () => cam.status().reconnects >= 1, 15_000);
    await cam.stop();
    const lastError = cam.status().lastError!;
    expect(lastError).toContain(`rtsp://${USER}:***@127.0.0.1:${port}/cam1?token=[REDACTED]`);
    const text = lines.join('');
    expect(text).toContain('ffmpeg started');
    expect(text).toContain('camera source failed');
    for (const secret of [WRONG, TOKEN]) {
      expect(lastError).not.toContain(secret);
      expect(text).not.toContain(secret);
    }
  });
});
