import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera, type CameraDeps } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { Frame } from '../../src/common/types.js';
import { cameraConfig, mean, takeFrames } from './helpers.js';
import { fixtureImages } from '../helpers/media.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
let pngs: string[];
const cameras: Camera[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  pngs = (await fixtureImages()).slice(0, 6);
});

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  await cleanup();
});

function camera(config: Record<string, unknown>, extra: Partial<CameraDeps> = {}): Camera {
  const cam = createCamera({ config: cameraConfig(config), inferenceSize: { width: 64, height: 64 }, baseDir: dir, log: silentLogger(), ...extra });
  cameras.push(cam);
  return cam;
}

async function folderWith(name: string, files: string[]): Promise<string> {
  const folder = path.join(dir, name);
  await mkdir(folder, { recursive: true });
  await Promise.all(files.map((f) => copyFile(f, path.join(folder, path.basename(f)))));
  return folder;
}

describe('image folder source', () => {
  it('replays the images at about the configured fps, skipping and counting corrupt ones', async () => {
    const folder = await folderWith('cells', pngs);
    const whole = await readFile(pngs[0]!);
    // Sorted between the good files, so a pass hits them mid-way.
    await writeFile(path.join(folder, 'cell0030_truncated.png'), whole.subarray(0, Math.floor(whole.length / 3)));
    await writeFile(path.join(folder, 'cell0058_garbage.png'), Buffer.from('this is not an image'));
    await writeFile(path.join(folder, 'notes.txt'), 'not an image either');

    const cam = camera({ source: 'cells', fps: 10, loop: true });
    cam.start();
    const frames = await takeFrames(cam, 14);

    const names = frames.map((f) => path.basename(f.sourceFile ?? ''));
    expect(new Set(names)).toEqual(new Set(pngs.map((p) => path.basename(p))));
    // Two passes over the folder: each broken file counted on every pass it was tried.
    expect(cam.status().framesCorrupt).toBeGreaterThanOrEqual(2);
    expect(cam.status()).toMatchObject({ state: 'online', reconnects: 0 });

    for (const f of frames) {
      expect([f.width, f.height, f.data.length]).toEqual([64, 64, 64 * 64 * 3]);
      // The full image is the decoded file itself, unchanged.
      const decoded = await sharp(f.sourceFile!).toColourspace('srgb').raw().toBuffer();
      expect(f.full && [f.full.width, f.full.height]).toEqual([300, 300]);
      expect(f.full!.data.equals(decoded)).toBe(true);
    }
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.seq).toBe(frames[i - 1]!.seq + 1);
    const meanIntervalMs = (frames.at(-1)!.capturedAt - frames[0]!.capturedAt) / (frames.length - 1);
    expect(meanIntervalMs).toBeGreaterThan(60);
    expect(meanIntervalMs).toBeLessThan(160);
  });

  it('replays a folder of links to images kept elsewhere, skipping a broken link like a removed file', async () => {
    const folder = path.join(dir, 'links');
    await mkdir(folder);
    for (const p of pngs.slice(0, 3)) await symlink(p, path.join(folder, path.basename(p)));
    await symlink(path.join(dir, 'gone.png'), path.join(folder, 'cell9999_gone.png'));
    const cam = camera({ source: 'links', fps: 20, loop: true });
    cam.start();
    const frames = await takeFrames(cam, 6);
    expect(new Set(frames.map((f) => path.basename(f.sourceFile ?? '')))).toEqual(new Set(pngs.slice(0, 3).map((p) => path.basename(p))));
    expect(cam.status()).toMatchObject({ state: 'online', framesCorrupt: 0 });
    await cam.stop();
  });

  it('paces a late replay without negative timer delays', async () => {
    const folder = await folderWith('late', pngs.slice(0, 2));
    // A clock on which every timer fires 150 ms late (1.5 frame periods): each tick finds the replay late.
    let t = Date.now();
    const delays: number[] = [];
    const cam = camera(
      { source: path.basename(folder), fps: 10, loop: true },
      {
        now: () => t,
        timers: {
          setTimeout: (fn, ms) => {
            delays.push(ms);
            return setTimeout(() => {
              t += Math.max(ms, 0) + 150;
              fn();
            }, Math.max(ms, 0));
          },
          clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
        },
      },
    );
    cam.start();
    await takeFrames(cam, 4);
    await cam.stop();
    expect(delays.length).toBeGreaterThan(3);
    expect(delays.filter((ms) => ms < 0)).toEqual([]);
  });

  it('crops the region of interest with sharp', async () => {
    const folder = path.join(dir, 'halves');
    await mkdir(folder);
    const width = 200;
    const height = 100;
    const pixels = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) pixels.fill(255, y * width * 3, (y * width + width / 2) * 3);
    await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(path.join(folder, 'halves.png'));

    const left = camera({ id: 'left', source: folder, fps: 20, roi: { x: 0, y: 0, width: 0.5, height: 1 } });
    const right = camera({ id: 'right', source: folder, fps: 20, roi: { x: 0.5, y: 0.2, width: 0.5, height: 0.6 } });
    left.start();
    right.start();
    const [l] = await takeFrames(left, 1);
    const [r] = await takeFrames(right, 1);
    expect(Math.min(...l!.data)).toBe(255);
    expect(Math.max(...r!.data)).toBe(0);
    expect(mean(l!.full!.data)).toBeCloseTo(127.5, 0);
  });

  it('gives a slow consumer the newest frame (or the one before it, when that is under a frame interval old), counts the drops and reuses a fixed set of buffers', async () => {
    const folder = await folderWith('fast', pngs);
    const cam = camera({ id: 'slow', source: folder, fps: 30 }, { poolSize: 4 });
    cam.start();
    const inferenceBuffers = new Set<ArrayBufferLike>();
    const fullBuffers = new Set<ArrayBufferLike>();
    const seqs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const frame = (await cam.next(AbortSignal.timeout(10_000)))!;
      // At most one frame newer exists than what the consumer just got: the slot keeps two
      // while the older is under an interval old (jitter), and only the newest beyond that.
      expect(frame.seq).toBeGreaterThanOrEqual(cam.status().framesIn - 1);
      seqs.push(frame.seq);
      inferenceBuffers.add(frame.data.buffer);
      fullBuffers.add(frame.full!.data.buffer);
      await new Promise((r) => setTimeout(r, 150));
      frame.release();
    }
    const skipped = seqs.slice(1).reduce((n, s, i) => n + (s - seqs[i]! - 1), 0);
    expect(skipped).toBeGreaterThan(0);
    expect(cam.status().framesDropped).toBeGreaterThanOrEqual(skipped);
    expect(inferenceBuffers.size).toBeLessThanOrEqual(4);
    expect(fullBuffers.size).toBeLessThanOrEqual(4);
  });

  it('keeps running, dropping frames, while a consumer holds every buffer; resumes once released', async () => {
    const folder = await folderWith('held', pngs);
    const cam = camera({ id: 'held', source: folder, fps: 30 }, { poolSize: 3 });
    cam.start();
    const held: Frame[] = [];
    for (let i = 0; i < 2; i++) held.push((await cam.next(AbortSignal.timeout(10_000)))!);
    // Two held by us, one in the slot: no buffer left for new frames.
    const before = cam.status();
    await until('frames dropped for lack of buffers', () => cam.status().framesIn >= before.framesIn + 5);
    expect(cam.status().framesDropped).toBeGreaterThanOrEqual(4);
    expect(cam.status().state).toBe('online');
    for (const f of held) f.release();
    const after = await takeFrames(cam, 2);
    expect(after[1]!.seq).toBeGreaterThan(before.framesIn + 5);
  });

  it('reconnects while the folder is missing and comes online once it appears', async () => {
    const folder = path.join(dir, 'later');
    const states: string[] = [];
    const cam = camera(
      { id: 'later', source: folder, kind: 'folder', fps: 20, watchdog: { backoffInitialMs: 50, backoffMaxMs: 200, offlineAfterFailures: 3 } },
      { onStatus: (s) => states.push(s.state) },
    );
    cam.start();
    await until('offline', () => cam.status().state === 'offline');
    expect(cam.status().lastError).toMatch(/ENOENT|no such file/i);
    expect(cam.status().reconnects).toBeGreaterThanOrEqual(3);
    await folderWith('later', pngs.slice(0, 1));
    const [frame] = await takeFrames(cam, 1);
    expect(frame!.sourceFile).toBe(path.join(folder, path.basename(pngs[0]!)));
    expect(cam.status().state).toBe('online');
    expect(states).toEqual(['starting', 'reconnecting', 'offline', 'online']);
  });
});
