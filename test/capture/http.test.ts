import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera, type Timers } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import { cameraConfig, takeFrames } from './helpers.js';
import { fixtureImages } from '../helpers/media.js';
import { until } from '../helpers/wait.js';

let png: Buffer;
let mode: 'ok' | 'error' | 'garbage' = 'ok';
let requests = 0;
let server: http.Server;
let url: string;
const cameras: Camera[] = [];

beforeAll(async () => {
  png = await readFile((await fixtureImages())[0]!);
  server = http.createServer((req, res) => {
    requests += 1;
    if (mode === 'error') {
      res.writeHead(500).end('camera busy');
    } else {
      res.writeHead(200, { 'content-type': 'image/png' }).end(mode === 'ok' ? png : Buffer.from('garbage'));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/snapshot.png`;
});

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('HTTP snapshot source', () => {
  it('polls the URL, counts undecodable snapshots, reconnects with backoff on HTTP errors and resets it after a frame', async () => {
    const delays: number[] = [];
    const timers: Timers = {
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return setTimeout(fn, ms);
      },
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    const cam = createCamera({
      config: cameraConfig({ source: url, fps: 20, watchdog: { stallSeconds: 5, backoffInitialMs: 100, backoffMaxMs: 1000 } }),
      inferenceSize: { width: 48, height: 48 },
      baseDir: '.',
      log: silentLogger(),
      random: () => 0.5,
      timers,
    });
    cameras.push(cam);
    mode = 'ok';
    cam.start();
    const [frame] = await takeFrames(cam, 2);
    expect([frame!.width, frame!.height]).toEqual([48, 48]);
    expect(frame!.full!.data.equals(await sharp(png).toColourspace('srgb').raw().toBuffer())).toBe(true);
    expect(cam.status().state).toBe('online');

    mode = 'garbage';
    await until('corrupt snapshots', () => cam.status().framesCorrupt >= 2);
    expect(cam.status()).toMatchObject({ state: 'online', reconnects: 0 });

    // Reconnect delays are the timers between 100 ms and the 5 s stall check; frame pacing uses 50 ms.
    const backoffs = (): number[] => delays.filter((ms) => ms >= 100 && ms < 5000);
    mode = 'error';
    await until('three failed attempts', () => cam.status().reconnects >= 3);
    expect(cam.status().state).toBe('reconnecting');
    expect(cam.status().lastError).toBe(`snapshot ${url}: HTTP 500 Internal Server Error`);
    // The slot may still hold a frame from before the errors: wait for one read after them.
    const recovered = Date.now();
    mode = 'ok';
    while ((await takeFrames(cam, 1, 5000))[0]!.capturedAt < recovered);
    expect(cam.status().state).toBe('online');
    const reconnects = cam.status().reconnects;
    mode = 'error';
    await until('another failure', () => cam.status().reconnects > reconnects);
    mode = 'ok';
    const schedule = backoffs();
    expect(schedule.slice(0, 3)).toEqual([100, 200, 400]);
    // After frames flowed again, the backoff starts over.
    expect(schedule[reconnects]).toBe(100);
    expect(requests).toBeGreaterThan(0);
  });

  it('reports an unreachable server', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const cam = createCamera({
      config: cameraConfig({ source: `http://127.0.0.1:${port}/snapshot.jpg`, watchdog: { backoffInitialMs: 50, backoffMaxMs: 100 } }),
      inferenceSize: { width: 48, height: 48 },
      baseDir: '.',
      log: silentLogger(),
    });
    cameras.push(cam);
    cam.start();
    await until('a failure', () => cam.status().reconnects >= 1);
    expect(cam.status().lastError).toMatch(/ECONNREFUSED/);
    await cam.stop();
  });
});
