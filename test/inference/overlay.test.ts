import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptFrameError } from '../../src/common/errors.js';
import { imageFromFile, renderOverlay } from '../../src/inference/index.js';
import type { HeatMap, RawImage } from '../../src/common/types.js';
import { rgbImage, tempDirs } from './helpers.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/elpv');
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function decode(jpeg: Buffer): Promise<{ width: number; height: number; format?: string; px: (x: number, y: number) => number[] }> {
  const meta = await sharp(jpeg).metadata();
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    format: meta.format,
    px: (x, y) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)),
  };
}

const distance = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

function heat(width: number, height: number, hot: [number, number][]): HeatMap {
  const data = new Float32Array(width * height);
  for (const [x, y] of hot) data[y * width + x] = 1;
  return { width, height, data };
}

describe('renderOverlay', () => {
  it('returns a JPEG of the image size, coloured where the heat map is high and plain elsewhere', async () => {
    const image = rgbImage(64, 64, () => [128, 128, 128]);
    const jpeg = await renderOverlay(image, { score: 1, heatMap: heat(8, 8, [[2, 1]]) });
    const out = await decode(jpeg);
    expect([out.format, out.width, out.height]).toEqual(['jpeg', 64, 64]);
    // Heat-map cell (col 2, row 1) covers x 16..23, y 8..15.
    expect(distance(out.px(20, 12), [128, 128, 128])).toBeGreaterThan(60);
    expect(distance(out.px(56, 56), [128, 128, 128])).toBeLessThan(8);
    expect(distance(out.px(4, 60), [128, 128, 128])).toBeLessThan(8);
  });

  it('places the heat map on the ROI rectangle of a full-resolution frame', async () => {
    const image: RawImage = { width: 200, height: 100, pixelFormat: 'gray', data: Buffer.alloc(200 * 100, 100) };
    // ROI = right half; heat only in the right half of the ROI.
    const jpeg = await renderOverlay(image, { score: 1, heatMap: heat(2, 1, [[1, 0]]) }, { roi: { x: 0.5, y: 0, width: 0.5, height: 1 } });
    const out = await decode(jpeg);
    expect([out.width, out.height]).toEqual([200, 100]);
    expect(distance(out.px(190, 50), [100, 100, 100])).toBeGreaterThan(60);
    expect(distance(out.px(105, 50), [100, 100, 100])).toBeLessThan(8);
    expect(distance(out.px(40, 50), [100, 100, 100])).toBeLessThan(8);
  });

  it('places the heat map of a padded frame on the image, not on the bands', async () => {
    // A 100x300 image padded into a 32x32 frame: 11 px wide at x 10, so one frame pixel is
    // 100/11 image pixels and the frame reaches from x −91 to 200. Heat column 4 of 8 (frame x
    // 16..19) lies over image x 55..91; the bands (columns 0-1, 6-7) lie outside the image.
    const image = rgbImage(100, 300, () => [128, 128, 128]);
    const output = { score: 1, heatMap: heat(8, 8, [0, 1, 2, 3, 4, 5, 6, 7].map((y) => [4, y] as [number, number])) };
    const placed = await decode(await renderOverlay(image, output, { range: [0, 1], geometry: { resize: 'pad', frame: { width: 32, height: 32 } } }));
    expect([placed.width, placed.height]).toEqual([100, 300]);
    expect(distance(placed.px(75, 150), [128, 128, 128])).toBeGreaterThan(60);
    expect(distance(placed.px(30, 150), [128, 128, 128])).toBeLessThan(8);
    // Without the geometry the same column would be drawn at x 50..62 (the map stretched over the image).
    const stretched = await decode(await renderOverlay(image, output, { range: [0, 1] }));
    expect(distance(stretched.px(56, 150), [128, 128, 128])).toBeGreaterThan(60);
    expect(distance(stretched.px(85, 150), [128, 128, 128])).toBeLessThan(8);
  });

  it('colours relative to a given range, so a low map over an ok frame stays faint', async () => {
    const image = rgbImage(32, 32, () => [128, 128, 128]);
    const lowMap: HeatMap = { width: 1, height: 1, data: Float32Array.from([0.05]) };
    const out = await decode(await renderOverlay(image, { score: 0.05, heatMap: lowMap }, { range: [0, 1] }));
    expect(distance(out.px(16, 16), [128, 128, 128])).toBeLessThan(12);
  });

  it('draws detection boxes scaled from inference pixels to the image', async () => {
    const image = rgbImage(128, 128, () => [0, 0, 0]);
    const box = { x1: 16, y1: 16, x2: 48, y2: 48, label: 'crack', score: 0.9 };
    const out = await decode(await renderOverlay(image, { score: 0.9, boxes: [box] }, { inputSize: { width: 64, height: 64 } }));
    // Box edges at 32 and 96 in image pixels; its inside stays black.
    const edge = out.px(64, 32);
    expect(edge[0]!).toBeGreaterThan(150);
    expect(edge[1]!).toBeLessThan(100);
    expect(distance(out.px(64, 64), [0, 0, 0])).toBeLessThan(8);
  });
});

describe('imageFromFile', () => {
  it('decodes a gray PNG to rgb24', async () => {
    const file = path.join(fixtures, 'cell0020.png');
    const meta = await sharp(file).metadata();
    const image = await imageFromFile(file);
    expect(image.pixelFormat).toBe('rgb24');
    expect([image.width, image.height]).toEqual([meta.width, meta.height]);
    expect(image.data.length).toBe(image.width * image.height * 3);
    const i = (Math.floor(image.height / 2) * image.width + Math.floor(image.width / 2)) * 3;
    expect(image.data[i]).toBe(image.data[i + 1]);
  });

  it('raises CorruptFrameError for a file that is not an image', async () => {
    const file = path.join(await dirs.make(), 'broken.png');
    await writeFile(file, 'not a png');
    await expect(imageFromFile(file)).rejects.toBeInstanceOf(CorruptFrameError);
  });
});
