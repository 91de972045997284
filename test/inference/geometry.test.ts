// How an image becomes model input (src/common/geometry.ts) as the runtime applies it: aspect
// ratio kept by padding or cropping, tiles scored and stitched, and packages without a geometry
// stretched exactly as before. The model is a real ONNX graph whose heat map is the channel mean
// pooled 4x4, so what the model saw can be read off its heat map.
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ffmpegFrameFilter, frameBoxToImage, toFrame } from '../../src/common/geometry.js';
import { silentLogger } from '../../src/common/log.js';
import type { RawImage } from '../../src/common/types.js';
import { createInferencer, imageFromFile, loadModelPackage, parseManifest, resizeImage, type Inferencer, type ModelManifest } from '../../src/inference/index.js';
import { FIXTURES } from '../helpers/paths.js';
import { anomalyModel, baseManifest, rgbImage, tempDirs, writePackage } from './helpers.js';

const dirs = tempDirs();
const open: Inferencer[] = [];
afterAll(async () => {
  await Promise.all(open.map((i) => i.close()));
  await dirs.cleanup();
});

async function inferencerFor(onnx: Uint8Array, manifest: object): Promise<Inferencer> {
  const pkg = await loadModelPackage(await writePackage(await dirs.make(), onnx, manifest));
  const inf = await createInferencer({ pkg, threads: 1, log: silentLogger() });
  open.push(inf);
  return inf;
}

/** A real cell image squeezed to 100x300: a tall image. */
async function tallCell(): Promise<RawImage> {
  const { data, info } = await sharp(path.join(FIXTURES, 'cell0480.png')).removeAlpha().toColourspace('srgb').resize(100, 300, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixelFormat: 'rgb24', data };
}

const column = (hm: { width: number; height: number; data: Float32Array }, x: number): number[] => Array.from({ length: hm.height }, (_, y) => hm.data[y * hm.width + x]!);

describe('aspect ratio', () => {
  it('pads a tall image to the square input instead of squashing it; black bands left and right', async () => {
    const tall = await tallCell();
    const frame = await toFrame(tall, 'pad', { width: 32, height: 32 });
    // The cell keeps its 1:3 shape: 11 of 32 columns (100/300 × 32 = 10.7) carry the image.
    const lit = Array.from({ length: 32 }, (_, x) => column({ width: 32 * 3, height: 32, data: Float32Array.from(frame.data) }, x * 3).some((v) => v > 0));
    expect(lit.filter(Boolean)).toHaveLength(11);
    expect(lit.indexOf(true)).toBe(10);

    const padded = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry: { resize: 'pad' } });
    const hm = (await padded.infer(tall)).output.heatMap!;
    // Heat cells are 4 px wide: columns 0-1 and 6-7 lie in the black bands, 3-4 inside the cell.
    for (const x of [0, 1, 6, 7]) expect(Math.max(...column(hm, x))).toBe(0);
    for (const x of [3, 4]) expect(Math.min(...column(hm, x))).toBeGreaterThan(0.05);
  });

  it('pads a gray image like its RGB copy (padding does not turn it into RGB bytes read as gray)', async () => {
    const tall = await tallCell();
    const gray: RawImage = { width: tall.width, height: tall.height, pixelFormat: 'gray', data: Buffer.from(Array.from({ length: tall.width * tall.height }, (_, i) => tall.data[i * 3]!)) };
    const asRgb: RawImage = { ...gray, pixelFormat: 'rgb24', data: Buffer.from(Array.from(gray.data).flatMap((v) => [v, v, v])) };
    const padded = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry: { resize: 'pad' } });
    const a = (await padded.infer(gray)).output;
    const b = (await padded.infer(asRgb)).output;
    expect(a.score).toBeCloseTo(b.score, 5);
    expect(Array.from(a.heatMap!.data).map((v) => v.toFixed(4))).toEqual(Array.from(b.heatMap!.data).map((v) => v.toFixed(4)));
  });

  it('a package without a geometry stretches the image exactly as before (the old resize)', async () => {
    const tall = await tallCell();
    const manifest = baseManifest('anomaly');
    expect(parseManifest(manifest).geometry).toBeUndefined();
    const old = await inferencerFor(anomalyModel(), manifest);
    expect(old.geometry).toEqual({ resize: 'stretch', frame: { width: 32, height: 32 }, tiles: { columns: 1, rows: 1 } });
    const a = (await old.infer(tall)).output;
    const b = (await old.infer(await resizeImage(tall, 32, 32))).output;
    expect(a.score).toBe(b.score);
    expect(a.heatMap!.data).toEqual(b.heatMap!.data);
    // Stretched, the cell fills every column.
    for (const x of [0, 7]) expect(Math.min(...column(a.heatMap!, x))).toBeGreaterThan(0.05);
  });

  it('crop shows the centre of a wide image, filling the input', async () => {
    // Thirds: red, green, blue. Cropped to a square, only the green middle third is left.
    const wide = rgbImage(300, 100, (x) => (x < 100 ? [255, 0, 0] : x < 200 ? [0, 255, 0] : [0, 0, 255]));
    const inf = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry: { resize: 'crop' } });
    const hm = (await inf.infer(wide)).output.heatMap!;
    for (const v of hm.data) expect(v).toBeCloseTo(1 / 3, 2);
  });
});

describe('tiles', () => {
  // Frame 64x32 cut into 3 tiles of 32x32 at x = 0, 16, 32 (overlapping by half a tile).
  const geometry = { resize: 'pad', frame: { width: 64, height: 32 }, tiles: { columns: 3, rows: 1 } } as const;
  const marked = (): RawImage => rgbImage(64, 32, (x, y) => (x >= 40 && x < 48 && y >= 8 && y < 12 ? [255, 255, 255] : [30, 30, 30]));

  it('scores every tile, takes the worst tile’s score and stitches the heat map over the frame', async () => {
    const tiled = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry });
    const single = await inferencerFor(anomalyModel(), baseManifest('anomaly'));
    const image = marked();
    const { output } = await tiled.infer(image);
    const hm = output.heatMap!;
    expect([hm.width, hm.height]).toEqual([16, 8]);
    // The mark covers frame x 40..47, y 8..11: heat cells 10-11 of row 2, and nowhere else.
    const hot = [...hm.data.keys()].filter((i) => hm.data[i]! > 0.5);
    expect(hot).toEqual([2 * 16 + 10, 2 * 16 + 11]);
    // The image score is that of the tile holding the mark (the last one, x 32..63), scored alone.
    const lastTile = rgbImage(32, 32, (x, y) => {
      const p = image.data[(y * 64 + x + 32) * 3]!;
      return [p, p, p];
    });
    expect(output.score).toBeCloseTo((await single.infer(lastTile)).output.score, 6);
    expect(output.score).toBeGreaterThan((await tiled.infer(rgbImage(64, 32, () => [30, 30, 30]))).output.score);
  });

  it('a graph with a free batch dimension scores all tiles in one run, with the same result', async () => {
    const perTile = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry });
    const batched = await inferencerFor(anomalyModel({ batch: true }), { ...baseManifest('anomaly'), geometry });
    const a = (await perTile.infer(marked())).output;
    const b = (await batched.infer(marked())).output;
    expect(b.score).toBe(a.score);
    expect(b.heatMap).toEqual(a.heatMap);
  });

  it('refuses at load a batched graph whose outputs do not carry the batch', async () => {
    // Free batch dimension in, but the score is one value for the whole batch.
    const onnx = anomalyModel({ inputDims: ['N', 3, 32, 32] });
    await expect(inferencerFor(onnx, { ...baseManifest('anomaly'), geometry })).rejects.toThrow(/graph output "(score|heatmap)" has shape \[.*\] for 3 tiles in one run/);
  });

  it('brings an image of another size to the frame first (padded), then tiles it', async () => {
    const inf = await inferencerFor(anomalyModel(), { ...baseManifest('anomaly'), geometry });
    // A real cell, square: padded into the 64x32 frame it is 32x32 in the middle (x 16..47).
    const cell = await imageFromFile(path.join(FIXTURES, 'cell0480.png'));
    const hm = (await inf.infer(cell)).output.heatMap!;
    expect([hm.width, hm.height]).toEqual([16, 8]);
    for (const x of [0, 1, 2, 3, 12, 13, 14, 15]) expect(Math.max(...column(hm, x))).toBe(0);
    for (const x of [5, 10]) expect(Math.min(...column(hm, x))).toBeGreaterThan(0.05);
  });
});

describe('model.json geometry', () => {
  const anomaly = (geometry: unknown): unknown => ({ ...baseManifest('anomaly'), geometry });
  it('refuses tiles that do not cover the frame, a frame smaller than the input, tiled classification', () => {
    expect(() => parseManifest(anomaly({ resize: 'pad', frame: { width: 128, height: 32 }, tiles: { columns: 2, rows: 1 } }))).toThrow(/2 tiles of 32 px do not cover the frame width 128/);
    expect(() => parseManifest(anomaly({ resize: 'pad', frame: { width: 64, height: 32 } }))).toThrow(/frame.width 64 differs from the input width 32 but there is one tile/);
    expect(() => parseManifest(anomaly({ resize: 'pad', frame: { width: 16, height: 32 } }))).toThrow(/frame.width 16 is smaller than the input width 32/);
    expect(() => parseManifest(anomaly({ resize: 'squash' }))).toThrow(/geometry.resize: must be one of "stretch", "pad", "crop"/);
    const classification: ModelManifest = { ...baseManifest('classification'), geometry: { resize: 'pad', frame: { width: 64, height: 32 }, tiles: { columns: 2, rows: 1 } } };
    expect(() => parseManifest(classification)).toThrow(/only anomaly models can be tiled/);
  });
});

describe('letterbox pad value and boxes mapped back to the image', () => {
  it('pads with the manifest gray, in sharp and in the ffmpeg filter alike', async () => {
    const framed = await toFrame(rgbImage(8, 4, () => [255, 255, 255]), 'pad', { width: 8, height: 8 }, 114);
    expect([...framed.data.subarray(0, 3)]).toEqual([114, 114, 114]); // top band
    expect([...framed.data.subarray(4 * 8 * 3, 4 * 8 * 3 + 3)]).toEqual([255, 255, 255]); // the image
    expect(ffmpegFrameFilter('pad', { width: 8, height: 8 }, 114)).toContain('color=0x727272');
    expect(ffmpegFrameFilter('pad', { width: 8, height: 8 })).toContain('color=black');
  });

  it('undoes the letterbox and the centre crop', () => {
    const box = { x1: 16, y1: 24, x2: 48, y2: 40, label: 'crack', score: 0.9 };
    // 128x64 padded into 64x64: scaled to 64x32 at top 16.
    expect(frameBoxToImage(box, { width: 128, height: 64 }, 'pad', { width: 64, height: 64 })).toEqual({ ...box, x1: 32, y1: 16, x2: 96, y2: 48 });
    // 128x64 cropped into 64x64: scaled to 128x64 at left -32.
    expect(frameBoxToImage(box, { width: 128, height: 64 }, 'crop', { width: 64, height: 64 })).toEqual({ ...box, x1: 48, y1: 24, x2: 80, y2: 40 });
    // A box reaching into the pad band is clipped to the image.
    expect(frameBoxToImage({ ...box, y1: 0 }, { width: 128, height: 64 }, 'pad', { width: 64, height: 64 }).y1).toBe(0);
  });
});
