// Huge images: a 12000×12000 PNG in a folder or behind a snapshot URL is skipped from its
// header (never decoded) and counted; files and responses over the byte limit too; the
// full-resolution copy is kept at a bounded size. The line goes on with the other images.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera, type CameraDeps } from '../../src/capture/index.js';
import { createLogger } from '../../src/common/log.js';
import { createMetrics } from '../../src/line/metrics.js';
import { fixtureImages } from '../helpers/media.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';
import { cameraConfig, takeFrames } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let pngs: string[];
let huge: Buffer;
const cameras: Camera[] = [];
const logLines: Array<{ msg: string; file?: string; error?: string }> = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-limits-'));
  pngs = (await fixtureImages()).slice(0, 4);
  // 144 MP: decoding it would take 432 MB of raw pixels per copy.
  huge = await sharp({ create: { width: 12000, height: 12000, channels: 3, background: { r: 40, g: 40, b: 40 } } }).png({ compressionLevel: 1 }).toBuffer();
}, 120_000);

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  await cleanup();
});

function camera(config: Record<string, unknown>, extra: Partial<CameraDeps> = {}): Camera {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  const cam = createCamera({ config: cameraConfig(config), inferenceSize: { width: 64, height: 64 }, baseDir: dir, log: createLogger({ destination }), ...extra });
  cameras.push(cam);
  return cam;
}

async function folderWith(name: string, files: Array<string | { name: string; data: Buffer }>): Promise<string> {
  const folder = path.join(dir, name);
  await mkdir(folder, { recursive: true });
  for (const f of files) {
    if (typeof f === 'string') await copyFile(f, path.join(folder, path.basename(f)));
    else await writeFile(path.join(folder, f.name), f.data);
  }
  return folder;
}

describe('image limits of a folder source', () => {
  it('skips a 12000×12000 PNG from its header, counts it as oversized, and keeps replaying the rest', async () => {
    await folderWith('huge', [...pngs, { name: 'cell0001_huge.png', data: huge }]);
    const cam = camera({ source: 'huge', fps: 20, loop: true });
    cam.start();
    const frames = await takeFrames(cam, 10);
    expect(frames.every((f) => !f.sourceFile!.endsWith('huge.png'))).toBe(true);
    expect(cam.status()).toMatchObject({ state: 'online', framesCorrupt: 0 });
    expect(cam.status().framesOversized).toBeGreaterThanOrEqual(1);
    const line = logLines.find((l) => l.msg === 'image over cameras[].imageLimits; skipped');
    expect(line?.file).toMatch(/cell0001_huge\.png$/);
    expect(line?.error).toBe('12000×12000 (144.0 MP) is over imageLimits.maxPixels (40000000)');
    const metrics = createMetrics({ cameras: () => [cam.status()], defaultMetrics: false });
    expect(await metrics.registry.metrics()).toMatch(/visor_camera_frames_oversized_total\{camera="cam1"\} [1-9]/);
  });

  it('skips a file over maxMegabytes before reading it, and bounds the full-resolution copy', async () => {
    // Noise does not compress: ~270 kB against a 0.1 MB limit; the fixture cells are ~100 kB or less.
    const noise = Buffer.alloc(300 * 300 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const big = await sharp(noise, { raw: { width: 300, height: 300, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    const folder = await folderWith('bytes', [...pngs, { name: 'cell0002_big.png', data: big }]);
    const cam = camera({ source: folder, fps: 20, imageLimits: { maxMegabytes: 0.2, fullResolutionMaxPixels: 10_000 } });
    cam.start();
    const frames = await takeFrames(cam, 6);
    expect(frames.every((f) => !f.sourceFile!.endsWith('big.png'))).toBe(true);
    expect(cam.status().framesOversized).toBeGreaterThanOrEqual(1);
    expect(logLines.some((l) => /MB is over imageLimits\.maxMegabytes \(0\.2\)/.test(l.error ?? ''))).toBe(true);
    // 300×300 cells, kept at 100×100 (10,000 pixels).
    for (const f of frames) expect(f.full).toMatchObject({ width: 100, height: 100 });
  });
});

describe('image limits of an HTTP snapshot source', () => {
  let server: http.Server;
  let base: string;
  // Counted per route, and one camera polls at a time: cameras polling side by side must not take
  // each other's turns (that could hand one camera only huge images, and its watchdog would rightly
  // reconnect).
  const requests = new Map<string, number>();
  const small = { body: Buffer.alloc(0) };

  beforeAll(async () => {
    small.body = await sharp(pngs[0]).jpeg().toBuffer();
    server = http.createServer((req, res) => {
      const n = (requests.get(req.url ?? '') ?? 0) + 1;
      requests.set(req.url ?? '', n);
      // Every other poll of a route answers the huge image: with Content-Length on /declared, chunked on /chunked.
      const serveHuge = n % 2 === 0;
      const body = serveHuge ? huge : small.body;
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.subarray(i, i + 64 * 1024));
        res.end();
      } else res.writeHead(200, { 'content-type': 'image/png', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('skips a response over the pixel limit and one over the byte limit (by Content-Length or while reading); the camera stays online', async () => {
    const byPixels = camera({ source: `${base}/declared`, fps: 20 });
    byPixels.start();
    await until('an oversized snapshot', () => (byPixels.status().framesOversized ?? 0) >= 2);
    await takeFrames(byPixels, 2);
    expect(byPixels.status()).toMatchObject({ state: 'online', reconnects: 0, framesCorrupt: 0 });
    // One camera polls at a time, so each sees its route's every-other-poll pattern.
    await byPixels.stop();

    const hugeMb = huge.length / 1024 / 1024;
    for (const route of ['declared', 'chunked']) {
      const byBytes = camera({ source: `${base}/${route}`, fps: 20, imageLimits: { maxMegabytes: hugeMb / 4 } });
      byBytes.start();
      await until(`an oversized ${route} response`, () => (byBytes.status().framesOversized ?? 0) >= 2);
      await takeFrames(byBytes, 2);
      expect(byBytes.status()).toMatchObject({ state: 'online', reconnects: 0 });
      await byBytes.stop();
    }
    expect(logLines.some((l) => /MB is over imageLimits\.maxMegabytes/.test(l.error ?? '') && /chunked/.test(l.file ?? ''))).toBe(true);
  });
});
