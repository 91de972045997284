import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptFrameError } from '../../src/common/errors.js';
import { createOverlayCache, heatColour, heatScale, imageFromFile, renderOverlay } from '../../src/inference/index.js';
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
    const jpeg = await renderOverlay(image, { score: 1, heatMap: heat(8, 8, [[2, 1]]) }, { threshold: 0.5 });
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
    const jpeg = await renderOverlay(image, { score: 1, heatMap: heat(2, 1, [[1, 0]]) }, { threshold: 0.5, roi: { x: 0.5, y: 0, width: 0.5, height: 1 } });
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
    const placed = await decode(await renderOverlay(image, output, { threshold: 0.5, geometry: { resize: 'pad', frame: { width: 32, height: 32 } } }));
    expect([placed.width, placed.height]).toEqual([100, 300]);
    expect(distance(placed.px(75, 150), [128, 128, 128])).toBeGreaterThan(60);
    expect(distance(placed.px(30, 150), [128, 128, 128])).toBeLessThan(8);
    // Without the geometry the same column would be drawn at x 50..62 (the map stretched over the image).
    const stretched = await decode(await renderOverlay(image, output, { threshold: 0.5 }));
    expect(distance(stretched.px(56, 150), [128, 128, 128])).toBeGreaterThan(60);
    expect(distance(stretched.px(85, 150), [128, 128, 128])).toBeLessThan(8);
  });

  it('colours relative to a given range, so a low map over an ok frame stays faint', async () => {
    const image = rgbImage(32, 32, () => [128, 128, 128]);
    const lowMap: HeatMap = { width: 1, height: 1, data: Float32Array.from([0.05]) };
    const out = await decode(await renderOverlay(image, { score: 0.05, heatMap: lowMap }, { threshold: 0.5 }));
    expect(distance(out.px(16, 16), [128, 128, 128])).toBeLessThan(12);
  });

  it('draws detection boxes scaled from inference pixels to the image', async () => {
    const image = rgbImage(128, 128, () => [0, 0, 0]);
    const box = { x1: 16, y1: 16, x2: 48, y2: 48, label: 'crack', score: 0.9 };
    const out = await decode(await renderOverlay(image, { score: 0.9, boxes: [box] }, { threshold: 0.5, inputSize: { width: 64, height: 64 } }));
    // Box edges at 32 and 96 in image pixels; its inside stays black.
    const edge = out.px(64, 32);
    expect(edge[0]!).toBeGreaterThan(150);
    expect(edge[1]!).toBeLessThan(100);
    expect(distance(out.px(64, 64), [0, 0, 0])).toBeLessThan(8);
  });

  it('maps boxes of a letterboxed frame back through the bands (a YOLO export on a wide image)', async () => {
    // A 200x100 image letterboxed into a 64x64 frame: scaled to 64x32, bands of 16 rows above and
    // below. A box at frame (16..48, 24..40) is image (50..150, 25..75): its top edge at image y 25.
    const image = rgbImage(200, 100, () => [0, 0, 0]);
    const box = { x1: 16, y1: 24, x2: 48, y2: 40, label: 'crack', score: 0.9 };
    const opts = { threshold: 0.5, inputSize: { width: 64, height: 64 }, geometry: { resize: 'pad' as const, frame: { width: 64, height: 64 } } };
    const out = await decode(await renderOverlay(image, { score: 0.9, boxes: [box] }, opts));
    const red = (p: number[]) => p[0]! > 150 && p[1]! < 100;
    expect(red(out.px(100, 25))).toBe(true);
    expect(red(out.px(100, 75))).toBe(true);
    // Stretched, the top edge would lie at y 37.5: there the letterboxed box is empty inside.
    expect(distance(out.px(100, 37), [0, 0, 0])).toBeLessThan(8);
  });
});

describe('the one heat-map scale', () => {
  it('puts the threshold at the middle of [0, 2 × threshold], whatever the threshold', () => {
    expect(heatScale(1)).toEqual({ lo: 0, hi: 2 });
    expect(heatScale(0.25)).toEqual({ lo: 0, hi: 0.5 });
    // A value at the threshold has the same colour for any threshold; half of it is fainter and bluer.
    expect(heatColour(1, 1)).toEqual(heatColour(0.25, 0.25));
    const [r, g, b, a] = heatColour(0.5, 1);
    const [r2, , b2, a2] = heatColour(1, 1);
    expect(a).toBeLessThan(a2);
    expect(b - r).toBeGreaterThan(b2 - r2);
    // Twice the threshold is the top: red, the most opaque.
    const [rt, gt, bt, at] = heatColour(2, 1);
    expect([rt > 100, gt, bt, at > a2]).toEqual([true, 0, 0, true]);
    expect(heatColour(5, 1)).toEqual(heatColour(2, 1));
    expect(g).toBeGreaterThan(0);
  });

  it('an ok frame scored just under the threshold is not painted red (issue 17: Live washed such frames red)', async () => {
    const image = rgbImage(200, 200, () => [128, 128, 128]);
    const map: HeatMap = { width: 1, height: 1, data: Float32Array.from([0.934]) };
    const out = await decode(await renderOverlay(image, { score: 0.934, heatMap: map }, { threshold: 1, legend: false }));
    const [r, g] = out.px(100, 100);
    expect(r!).toBeLessThan(g! + 10);
  });

  it('rings the peak and draws a legend with the threshold, on images wide enough for one', async () => {
    const image = rgbImage(320, 320, () => [40, 40, 40]);
    const map = heat(8, 8, [[6, 1]]);
    const withLegend = await decode(await renderOverlay(image, { score: 1, heatMap: map }, { threshold: 0.5 }));
    const without = await decode(await renderOverlay(image, { score: 1, heatMap: map }, { threshold: 0.5, legend: false }));
    // The legend bar sits bottom-left (x 6..134, y 306..314): its left end is the bottom of the scale (blue), its right end the top (red).
    const y = 320 - 7 - 4;
    const left = withLegend.px(12, y);
    const right = withLegend.px(128, y);
    expect(left[2]!).toBeGreaterThan(left[0]! + 60);
    expect(right[0]!).toBeGreaterThan(right[2]! + 60);
    expect(distance(without.px(12, y), [40, 40, 40])).toBeLessThan(8);
    // The ring around the hottest cell (centre 260, 60; radius 0.75 cells = 30 px) is white; the centre keeps the heat colour.
    const ring = Math.max(...[without.px(260, 30), without.px(260, 90), without.px(230, 60), without.px(290, 60)].map((p) => Math.min(...p)));
    expect(ring).toBeGreaterThan(150);
    expect(distance(without.px(260, 60), [40, 40, 40])).toBeGreaterThan(30);
  });
});

describe('createOverlayCache', () => {
  it('renders a key once, evicts the least recently used, and retries a failed render', async () => {
    const cache = createOverlayCache({ maxEntries: 2 });
    let renders = 0;
    const render = (n: number) => async () => {
      renders++;
      return Buffer.from([n]);
    };
    await cache.get('a', render(1));
    await cache.get('b', render(2));
    expect(await cache.get('a', render(9))).toEqual(Buffer.from([1]));
    await cache.get('c', render(3)); // evicts b, the least recently used
    expect(renders).toBe(3);
    await cache.get('a', render(9));
    expect(renders).toBe(3);
    await cache.get('b', render(2));
    expect(renders).toBe(4);
    await expect(cache.get('d', () => Promise.reject(new Error('decode failed')))).rejects.toThrow('decode failed');
    expect(await cache.get('d', render(4))).toEqual(Buffer.from([4]));
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
