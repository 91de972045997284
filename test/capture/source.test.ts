import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFfmpegArgs, createCamera, resolveSourceKind } from '../../src/capture/index.js';
import { JpegFrameReader } from '../../src/capture/readers.js';
import { mjpegQscale } from '../../src/capture/ffmpeg.js';
import sharp from 'sharp';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
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
  const base = { fps: 5, loop: true, rtspTransport: 'udp' as const, inferenceSize: { width: 224, height: 160 }, fullResolution: false };

  it('reads V4L2 devices with -f v4l2 and emits rgb24 frames at inference size', () => {
    const args = buildFfmpegArgs({ ...base, kind: 'v4l2', input: '/dev/video2' }).join(' ');
    expect(args).toContain('-f v4l2 -i /dev/video2');
    expect(args).toContain('-vf fps=5,scale=224:160:flags=bilinear,format=rgb24');
    expect(args).toMatch(/-f rawvideo -pix_fmt rgb24 pipe:1$/);
  });

  it('uses the configured RTSP transport, and the ROI as fractions of the frame', () => {
    const args = buildFfmpegArgs({ ...base, kind: 'rtsp', input: 'rtsp://cam/s', roi: { x: 0.25, y: 0, width: 0.5, height: 1 }, fullResolution: true }).join(' ');
    expect(args).toContain('-rtsp_transport udp');
    expect(args).toContain('crop=w=iw*0.5:h=ih*1:x=iw*0.25:y=ih*0,scale=224:160');
    expect(args).toContain('split=2');
    expect(args).toMatch(/-c:v mjpeg -qmin 1 -q:v 1 -f image2pipe pipe:3$/);
    expect(buildFfmpegArgs({ ...base, kind: 'rtsp', input: 'rtsp://cam/s', fullResolution: true, jpegQuality: 75 }).join(' ')).toContain('-q:v 3 ');
    expect([100, 90, 80, 50, 1].map(mjpegQscale)).toEqual([1, 1, 2, 6, 13]);
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

describe('JpegFrameReader', () => {
  it('splits JPEGs written one after the other at their end, whatever the chunk boundaries, with each size', async () => {
    // ffmpeg's own mjpeg output (restart markers and all) and sharp's, different sizes.
    const { stdout } = await promisify(execFile)(
      'ffmpeg',
      ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10', '-frames:v', '3', '-c:v', 'mjpeg', '-q:v', '2', '-huffman', 'optimal', '-f', 'image2pipe', 'pipe:1'],
      { encoding: 'buffer' },
    );
    const noise = (w: number, h: number) => sharp(Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256)), { raw: { width: w, height: h, channels: 3 } });
    const progressive = await noise(40, 30).jpeg({ progressive: true }).toBuffer();
    const baseline = await noise(17, 9).jpeg({ quality: 50 }).toBuffer();
    const stream = Buffer.concat([stdout, progressive, baseline]);
    for (const step of [1, 7, 4096, stream.length]) {
      const got: string[] = [];
      const reader = new JpegFrameReader(
        (f) => got.push(`${f.width}x${f.height}:${f.data.length}`),
        (message) => got.push(`error ${message}`),
      );
      for (let i = 0; i < stream.length; i += step) reader.push(stream.subarray(i, i + step));
      expect(got.slice(3), `chunks of ${step}`).toEqual([`40x30:${progressive.length}`, `17x9:${baseline.length}`]);
      expect(got.slice(0, 3).map((g) => g.split(':')[0])).toEqual(['96x64', '96x64', '96x64']);
      expect(got.slice(0, 3).reduce((n, g) => n + Number(g.split(':')[1]), 0)).toBe(stdout.length);
    }
  });

  it('reports a stream that is not JPEG, once', () => {
    const got: string[] = [];
    const reader = new JpegFrameReader(
      () => got.push('frame'),
      (message) => got.push(message),
    );
    reader.push(Buffer.from('P6\n2 2\n255\n'));
    reader.push(Buffer.alloc(12));
    expect(got).toEqual(['full-resolution output: not a JPEG (no start-of-image marker)']);
  });
});
