import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFfmpegArgs, createCamera, frameRateCap, resolveSourceKind } from '../../src/capture/index.js';
import { PpmFrameReader } from '../../src/capture/readers.js';
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
