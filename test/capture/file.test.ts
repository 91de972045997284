import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import { toFrame, type Resize } from '../../src/common/geometry.js';
import { cameraConfig, childProcesses, ffmpeg, isAlive, makeClip, mean, meanAbsDiff, takeFrames } from './helpers.js';
import { tempDir } from '../helpers/temp.js';

let dir: string;
let cleanup: () => Promise<void>;
let clip: string;
const cameras: Camera[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  clip = await makeClip(dir);
});

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  await cleanup();
});

function camera(config: Record<string, unknown>, inferenceSize = { width: 64, height: 64 }, resize?: Resize, padValue?: number): Camera {
  // Relative source: resolved against baseDir.
  const cam = createCamera({ config: cameraConfig(config), inferenceSize, baseDir: dir, log: silentLogger(), ...(resize ? { resize } : {}), ...(padValue !== undefined ? { padValue } : {}) });
  cameras.push(cam);
  return cam;
}

describe('video file source', () => {
  it('replays a looping file: frames at inference size, increasing seq, camera online', async () => {
    const cam = camera({ id: 'loop', source: 'clip.mp4', fps: 10, loop: true, fullResolution: false });
    cam.start();
    // The clip has 12 frames: more than 12 means it looped.
    const frames = await takeFrames(cam, 16);
    for (const f of frames) {
      expect([f.width, f.height, f.data.length]).toEqual([64, 64, 64 * 64 * 3]);
      expect(f.full).toBeUndefined();
    }
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.seq).toBeGreaterThan(frames[i - 1]!.seq);
    expect(frames.at(-1)!.seq).toBeGreaterThan(12);
    expect(cam.status()).toMatchObject({ cameraId: 'loop', state: 'online', reconnects: 0 });

    const pids = await childProcesses(clip);
    expect(pids.length).toBe(1);
    await cam.stop();
    expect(cam.status().state).toBe('stopped');
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await cam.next()).toBeUndefined();
  });

  it('plays a non-looping file once, then reports stopped and next() resolves undefined', async () => {
    const cam = camera({ id: 'once', source: clip, fps: 10, loop: false, fullResolution: false });
    cam.start();
    const seqs: number[] = [];
    for (;;) {
      const frame = await cam.next(AbortSignal.timeout(15_000));
      if (!frame) break;
      seqs.push(frame.seq);
      frame.release();
    }
    expect(seqs.length).toBeGreaterThanOrEqual(10);
    expect(seqs.at(-1)).toBeLessThanOrEqual(12);
    expect(cam.status()).toMatchObject({ state: 'stopped', reconnects: 0 });
  });

  it('pairs every inference frame with the full-resolution frame of the same picture', async () => {
    const cam = camera({ id: 'full', source: clip, fps: 10, fullResolution: true });
    cam.start();
    const frames = await takeFrames(cam, 8);
    const own: number[] = [];
    const other: number[] = [];
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      expect([f.width, f.height]).toEqual([64, 64]);
      expect(f.full && [f.full.width, f.full.height, f.full.data.length]).toEqual([300, 300, 300 * 300 * 3]);
      const shrunk = await sharp(f.full!.data, { raw: { width: 300, height: 300, channels: 3 } }).resize(64, 64, { fit: 'fill' }).raw().toBuffer();
      own.push(meanAbsDiff(shrunk, f.data));
      other.push(meanAbsDiff(shrunk, frames[(i + 1) % frames.length]!.data));
    }
    for (let i = 0; i < own.length; i++) {
      expect(own[i]).toBeLessThan(6);
      expect(own[i]).toBeLessThan(other[i]!);
    }
    // Consecutive frames show different solar cells, so a frame paired with its neighbour's full image would differ clearly.
    expect(Math.max(...other)).toBeGreaterThan(Math.max(...own) + 5);
  });

  it('reads every frame of a file with its full-resolution picture, the last one too, and leaves no socket behind', async () => {
    // The full-resolution frames come over a socket in a private temp folder of their own.
    const tmpdir = process.env.TMPDIR;
    const own = path.join(dir, 'own-tmp');
    fs.mkdirSync(own);
    process.env.TMPDIR = own;
    try {
      const cam = camera({ id: 'fullonce', source: clip, fps: 10, loop: false, fullResolution: true });
      cam.start();
      const seqs: number[] = [];
      for (;;) {
        const frame = await cam.next(AbortSignal.timeout(15_000));
        if (!frame) break;
        expect(frame.full && [frame.full.width, frame.full.height]).toEqual([300, 300]);
        seqs.push(frame.seq);
        frame.release();
      }
      expect(cam.status()).toMatchObject({ state: 'stopped', framesIn: 12, framesDropped: 0 });
      expect(seqs.at(-1)).toBe(12);
      expect(fs.readdirSync(own)).toEqual([]);
    } finally {
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
  });

  /** Reads a non-looping file to its end; returns the frames read. */
  async function framesReadToEnd(cam: Camera): Promise<number> {
    cam.start();
    for (;;) {
      const frame = await cam.next(AbortSignal.timeout(15_000));
      if (!frame) break;
      frame.release();
    }
    return cam.status().framesIn;
  }

  it('reads a stream with missing frames as it is, without copies filling the gap, and caps a faster one', async () => {
    // 30 frames at 10 fps with the middle 10 missing (their timestamps kept): a stream that lost
    // frames on the way. The fps filter used to fill the gap with copies of the last frame.
    const gap = path.join(dir, 'gap.mkv');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10:duration=3', '-vf', "select='not(between(n,10,19))'", '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', gap]);
    const fast = path.join(dir, 'fast.mkv');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=30', '-frames:v', '45', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', fast]);
    const [gapRead, fastRead] = await Promise.all([
      framesReadToEnd(camera({ id: 'gap', source: gap, fps: 10, loop: false, fullResolution: false })),
      framesReadToEnd(camera({ id: 'fast', source: fast, fps: 10, loop: false, fullResolution: true })),
    ]);
    expect(gapRead).toBe(20);
    // 1.5 s of a 30 fps stream at 10 fps at most.
    expect(fastRead).toBeGreaterThanOrEqual(14);
    expect(fastRead).toBeLessThanOrEqual(16);
  });

  it('crops the region of interest before scaling (two cameras at once, each its own ffmpeg)', async () => {
    const img = path.join(dir, 'halves.png');
    const width = 200;
    const height = 100;
    const pixels = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width / 2; x++) pixels.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
    await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(img);
    const video = path.join(dir, 'halves.mp4');
    await ffmpeg(['-loop', '1', '-framerate', '10', '-t', '1', '-i', img, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '10', '-pix_fmt', 'yuv420p', video]);

    const left = camera({ id: 'left', source: video, fps: 10, roi: { x: 0.05, y: 0.1, width: 0.4, height: 0.8 } }, { width: 32, height: 32 });
    const right = camera({ id: 'right', source: video, fps: 10, roi: { x: 0.55, y: 0.1, width: 0.4, height: 0.8 } }, { width: 32, height: 32 });
    left.start();
    right.start();
    const [l] = await takeFrames(left, 1);
    const [r] = await takeFrames(right, 1);
    expect(Math.min(...l!.data)).toBeGreaterThan(200);
    expect(mean(l!.data)).toBeGreaterThan(245);
    expect(Math.max(...r!.data)).toBeLessThan(55);
    expect(mean(r!.data)).toBeLessThan(10);
    // The full image is the whole field of view, both halves.
    expect(l!.full).toMatchObject({ width: 200, height: 100 });
    expect(mean(l!.full!.data)).toBeGreaterThan(100);
    expect(mean(l!.full!.data)).toBeLessThan(155);
    expect((await childProcesses(video)).length).toBe(2);
    await Promise.all([left.stop(), right.stop()]);
    expect(await childProcesses(video)).toEqual([]);
  });

  it('brings frames to the model’s frame keeping the aspect ratio: padded or centre-cropped, as sharp does', async () => {
    // A tall picture: a white cell 100x200 with a grey band at the top and bottom quarter.
    const width = 100;
    const height = 200;
    const pixels = Buffer.alloc(width * height * 3, 255);
    for (let y = 0; y < height; y++) if (y < 50 || y >= 150) pixels.fill(128, y * width * 3, (y + 1) * width * 3);
    const img = path.join(dir, 'tall.png');
    await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(img);
    const video = path.join(dir, 'tall.mp4');
    await ffmpeg(['-loop', '1', '-framerate', '10', '-t', '1', '-i', img, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '0', '-pix_fmt', 'yuv444p', video]);
    const frame = { width: 64, height: 64 };
    const padded = camera({ id: 'pad', source: video, fps: 10, fullResolution: false }, frame, 'pad');
    const cropped = camera({ id: 'crop', source: video, fps: 10, fullResolution: false }, frame, 'crop');
    padded.start();
    cropped.start();
    const [p] = await takeFrames(padded, 1);
    const [c] = await takeFrames(cropped, 1);
    const column = (data: Buffer, x: number): Buffer => Buffer.from(Array.from({ length: 64 }, (_, y) => data[(y * 64 + x) * 3]!));
    // Padded: the picture is 32x64 in the middle (x 16..47), black bands either side.
    expect(Math.max(...column(p!.data, 2), ...column(p!.data, 61))).toBeLessThan(20);
    expect(mean(column(p!.data, 32))).toBeGreaterThan(170);
    // Cropped: 64x128 scaled, the middle 64 rows kept: white top to bottom but for the grey band edges.
    expect(mean(column(c!.data, 32).subarray(8, 56))).toBeGreaterThan(245);
    expect(Math.min(...c!.data)).toBeGreaterThan(100);
    // The same rule as the sharp sources and offline scoring, up to ffmpeg's own scaler.
    const source = { width, height, pixelFormat: 'rgb24' as const, data: pixels };
    expect(meanAbsDiff(p!.data, (await toFrame(source, 'pad', frame)).data)).toBeLessThan(4);
    expect(meanAbsDiff(c!.data, (await toFrame(source, 'crop', frame)).data)).toBeLessThan(4);
    await Promise.all([padded.stop(), cropped.stop()]);

    // A letterbox with the model's pad gray (Ultralytics: 114), not black: as `visor inspect` pads.
    const gray = camera({ id: 'pad114', source: video, fps: 10, fullResolution: false }, frame, 'pad', 114);
    gray.start();
    const [g] = await takeFrames(gray, 1);
    expect(mean(column(g!.data, 2))).toBeGreaterThan(108);
    expect(mean(column(g!.data, 2))).toBeLessThan(120);
    expect(meanAbsDiff(g!.data, (await toFrame(source, 'pad', frame, 114)).data)).toBeLessThan(4);
    await gray.stop();
  });
});

describe('a process that reads cameras', () => {
  it('exits by itself once its cameras are stopped (the frame reader thread does not hold it open)', async () => {
    const script = path.join(dir, 'exits.mts');
    const src = (f: string) => JSON.stringify(path.join(import.meta.dirname, '../../src', f));
    fs.writeFileSync(
      script,
      `import { createCamera } from ${src('capture/index.ts')};
       import { parseConfig } from ${src('config/index.ts')};
       import { silentLogger } from ${src('common/log.ts')};
       const config = parseConfig({ cameras: [{ id: 'c', source: ${JSON.stringify(clip)}, fps: 10, fullResolution: true }] }).cameras[0]!;
       const cam = createCamera({ config, inferenceSize: { width: 64, height: 64 }, baseDir: '/', log: silentLogger() });
       cam.start();
       for (let i = 0; i < 3; i++) (await cam.next())!.release();
       await cam.stop();
       console.log('stopped');`,
    );
    const { execFile } = await import('node:child_process');
    const started = Date.now();
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', script], { timeout: 30_000 }, (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout }));
      void child;
    });
    expect(out.stdout.trim()).toBe('stopped');
    // Killed at 30 s by the timeout when something holds it open.
    expect(out.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('an ffmpeg whose outputs nobody reads', () => {
  it('exits by itself when its parent died before connecting (it would hold the camera forever)', async () => {
    const { spawn } = await import('node:child_process');
    const { buildFfmpegArgs } = await import('../../src/capture/index.js');
    const sockets = { inference: path.join(dir, 'orphan-inference.sock'), full: path.join(dir, 'orphan-full.sock') };
    const args = buildFfmpegArgs({ kind: 'file', input: clip, fps: 10, loop: true, rtspTransport: 'tcp', inferenceSize: { width: 64, height: 64 }, fullResolution: true, sockets, acceptTimeoutMs: 1000 });
    const child = spawn('ffmpeg', args, { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    // Not killed by the test: it gave up waiting for the frame reader thread.
    expect(code).not.toBeNull();
    expect(code).not.toBe(0);
  });
});
