import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFfmpegArgs, createCamera, frameRateCap, resolveSourceKind } from '../../src/capture/index.js';
import { PpmFrameReader, RawFrameReader, type FrameReader } from '../../src/capture/readers.js';
import { ConfigError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { cameraConfig } from './helpers.js';
import { tempDir } from '../helpers/temp.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(path.join(dir, 'images'));
});
afterAll(() => cleanup());

describe('resolveSourceKind', () => {
  it('infers the kind from the source string', () => {
    expect(resolveSourceKind('rtsp://10.0.0.5:554/stream1', dir)).toBe('rtsp');
    expect(resolveSourceKind('RTSPS://cam.local/live', dir)).toBe('rtsp');
    expect(resolveSourceKind('https://cam.local/snapshot.jpg', dir)).toBe('http');
    expect(resolveSourceKind('http://cam.local/snap', dir)).toBe('http');
    expect(resolveSourceKind('/dev/video0', dir)).toBe('v4l2');
    // Relative paths resolve against baseDir.
    expect(resolveSourceKind('images', dir)).toBe('folder');
    expect(resolveSourceKind(path.join(dir, 'images'), '/')).toBe('folder');
    expect(resolveSourceKind('line.mp4', dir)).toBe('file');
  });
});

describe('buildFfmpegArgs', () => {
  const base = { fps: 5, loop: true, rtspTransport: 'udp' as const, inferenceSize: { width: 224, height: 160 }, fullResolution: false, sockets: { inference: '/run/v/inference.sock' } };

  it('reads V4L2 devices with -f v4l2 and emits rgb24 frames at inference size', () => {
    const args = buildFfmpegArgs({ ...base, kind: 'v4l2', input: '/dev/video2' }).join(' ');
    expect(args).toContain('-f v4l2 -i /dev/video2');
    expect(args).toContain(`-vf ${frameRateCap(5)},scale=224:160:flags=bilinear,format=rgb24`);
    expect(args).toMatch(/-f rawvideo -pix_fmt rgb24 -timeout 10000 -listen 1 unix:\/run\/v\/inference.sock$/);
  });

  it('uses the configured RTSP transport, and the ROI as fractions of the frame', () => {
    const args = buildFfmpegArgs({ ...base, kind: 'rtsp', input: 'rtsp://cam/s', roi: { x: 0.25, y: 0, width: 0.5, height: 1 }, fullResolution: true, sockets: { inference: '/run/v/inference.sock', full: '/run/v/full.sock' } }).join(' ');
    expect(args).toContain('-rtsp_transport udp');
    expect(args).toContain('crop=w=iw*0.5:h=ih*1:x=iw*0.25:y=ih*0,scale=224:160');
    expect(args).toContain('split=2');
    expect(args).toContain('-f rawvideo -pix_fmt rgb24 -timeout 10000 -listen 1 unix:/run/v/inference.sock');
    expect(args).toMatch(/-c:v ppm -f image2pipe -timeout 10000 -listen 1 unix:\/run\/v\/full.sock$/);
  });

  it('replays files in real time, looping only when asked', () => {
    expect(buildFfmpegArgs({ ...base, kind: 'file', input: '/v.mp4' }).join(' ')).toContain('-re -stream_loop -1 -i /v.mp4');
    expect(buildFfmpegArgs({ ...base, kind: 'file', input: '/v.mp4', loop: false }).join(' ')).toContain('-re -i /v.mp4');
  });
});

describe('createCamera', () => {
  it('rejects a region of interest that lies outside the frame', () => {
    // The config loader already refuses this; capture does not rely on it.
    const config = { ...cameraConfig({ source: 'rtsp://cam/s' }), roi: { x: 1, y: 0, width: 0.5, height: 0.5 } };
    expect(() => createCamera({ config, inferenceSize: { width: 32, height: 32 }, baseDir: dir, log: silentLogger() })).toThrow(ConfigError);
  });
});

describe('PpmFrameReader', () => {
  it('reassembles frames split at any byte boundary, including inside the header', () => {
    const frame = (w: number, h: number, fill: number): Buffer => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.alloc(w * h * 3, fill)]);
    const stream = Buffer.concat([frame(2, 2, 7), frame(3, 1, 9), frame(2, 2, 11)]);
    const got: string[] = [];
    const reader = new PpmFrameReader(
      (w, h) => Buffer.alloc(w * h * 3),
      (f) => got.push(`${f.width}x${f.height}:${[...new Set(f.data!)].join()}`),
      (message) => got.push(`error ${message}`),
    );
    for (let i = 0; i < stream.length; i += 5) reader.push(stream.subarray(i, i + 5));
    expect(got).toEqual(['2x2:7', '3x1:9', '2x2:11']);
  });
});

/**
 * What a socket does with a reader: each read lands in reader.target() (else a scratch buffer),
 * at most `step` bytes; counts the bytes read into a frame's buffer (one `frames` holds) and elsewhere.
 */
function readThrough(reader: FrameReader, stream: Buffer, step: number, frames: Set<ArrayBufferLike>): { inPlace: number; elsewhere: number } {
  const scratch = Buffer.alloc(1000);
  const landed = { inPlace: 0, elsewhere: 0 };
  for (let pos = 0; pos < stream.length; ) {
    const target = reader.target();
    const into = target ?? scratch;
    const n = Math.min(step, into.length, stream.length - pos);
    stream.copy(into, 0, pos, pos + n);
    if (target && frames.has(target.buffer)) landed.inPlace += n;
    else landed.elsewhere += n;
    reader.push(Buffer.from(into.buffer, into.byteOffset, n));
    pos += n;
  }
  return landed;
}

describe('frames read in place', () => {
  const ppm = (w: number, h: number, fill: number): Buffer => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.alloc(w * h * 3, fill)]);

  it("reads a PPM frame's body straight into its buffer, through a resolution change", () => {
    const stream = Buffer.concat([ppm(40, 30, 7), ppm(50, 20, 9), ppm(40, 30, 11)]);
    const got: string[] = [];
    const frames = new Set<ArrayBufferLike>();
    const reader = new PpmFrameReader(
      (w, h) => {
        const buf = new Uint8Array(w * h * 3);
        frames.add(buf.buffer);
        return Buffer.from(buf.buffer);
      },
      (f) => got.push(`${f.width}x${f.height}:${[...new Set(f.data!)].join()}`),
      (message) => got.push(`error ${message}`),
    );
    const landed = readThrough(reader, stream, 997, frames);
    expect(got).toEqual(['40x30:7', '50x20:9', '40x30:11']);
    // Only each header's small read (the header and a few body bytes after it) went elsewhere.
    expect(landed.elsewhere).toBeLessThanOrEqual(3 * 64);
    expect(landed.inPlace + landed.elsewhere).toBe(stream.length);
  });

  it('skips a raw frame when the pool has no buffer, and stays in step for the next', () => {
    const bytes = 300;
    const frames = new Set<ArrayBufferLike>();
    const buffer = (): Buffer => {
      const buf = new Uint8Array(bytes);
      frames.add(buf.buffer);
      return Buffer.from(buf.buffer);
    };
    const free = [buffer()];
    const got: (string | undefined)[] = [];
    const reader = new RawFrameReader(
      bytes,
      () => free.pop(),
      (data) => {
        got.push(data ? [...new Set(data)].join() : undefined);
        // The first frame's buffer comes back only after the second frame is read.
        if (got.length === 2) free.push(buffer());
      },
    );
    const stream = Buffer.concat([Buffer.alloc(bytes, 1), Buffer.alloc(bytes, 2), Buffer.alloc(bytes, 3)]);
    const landed = readThrough(reader, stream, 100, frames);
    expect(got).toEqual(['1', undefined, '3']);
    // The skipped frame's bytes went to scratch; the others landed in their buffers.
    expect(landed).toEqual({ inPlace: 2 * bytes, elsewhere: bytes });
  });
});
