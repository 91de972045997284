import { describe, expect, it } from 'vitest';
import { createPreprocessor, normalizeInto } from '../../src/inference/index.js';
import type { ModelManifest } from '../../src/inference/manifest.js';
import type { RawImage } from '../../src/common/types.js';
import { rgbImage } from './helpers.js';

type Input = ModelManifest['input'];
const input = (overrides: Partial<Input>): Input => ({
  name: 'x', width: 2, height: 1, layout: 'NCHW', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], ...overrides,
});

// Two pixels: (255, 0, 51) and (102, 204, 0).
const twoPixels = (): RawImage => ({ width: 2, height: 1, pixelFormat: 'rgb24', data: Buffer.from([255, 0, 51, 102, 204, 0]) });

describe('normalisation to planar NCHW', () => {
  it('computes (p * scale - mean[c]) / std[c] per plane, in RGB order', () => {
    const spec = input({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const out = new Float32Array(6);
    normalizeInto(twoPixels(), spec, out);
    const expected = [
      (1 - 0.485) / 0.229, (0.4 - 0.485) / 0.229, // R plane
      (0 - 0.456) / 0.224, (0.8 - 0.456) / 0.224, // G plane
      (0.2 - 0.406) / 0.225, (0 - 0.406) / 0.225, // B plane
    ];
    expected.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
  });

  it('puts blue first for BGR models, with mean/std in model channel order', () => {
    const out = new Float32Array(6);
    normalizeInto(twoPixels(), input({ channels: 'BGR', scale: 1, mean: [10, 20, 30], std: [1, 2, 4] }), out);
    expect(Array.from(out)).toEqual([(51 - 10) / 1, (0 - 10) / 1, (0 - 20) / 2, (204 - 20) / 2, (255 - 30) / 4, (102 - 30) / 4]);
  });

  it('makes gray from RGB by BT.601 luma, and takes gray frames as they are', () => {
    const out = new Float32Array(2);
    normalizeInto(twoPixels(), input({ channels: 'GRAY', scale: 1, mean: [0], std: [1] }), out);
    expect(out[0]).toBeCloseTo(0.299 * 255 + 0.114 * 51, 3);
    expect(out[1]).toBeCloseTo(0.299 * 102 + 0.587 * 204, 3);

    const gray: RawImage = { width: 2, height: 1, pixelFormat: 'gray', data: Buffer.from([0, 255]) };
    normalizeInto(gray, input({ channels: 'GRAY', mean: [0.5], std: [0.5] }), out);
    expect(Array.from(out)).toEqual([-1, 1]);
  });

  it('applies a single mean/std value to all three planes', () => {
    const out = new Float32Array(6);
    normalizeInto(twoPixels(), input({ scale: 1, mean: [100], std: [2] }), out);
    expect(Array.from(out)).toEqual([77.5, 1, -50, 52, -24.5, -50]);
  });

  it('refuses an image of the wrong size instead of reading past it', () => {
    expect(() => normalizeInto(rgbImage(3, 1, () => [0, 0, 0]), input({}), new Float32Array(6))).toThrow(/3x1.*2x1/);
  });
});

describe('createPreprocessor', () => {
  it('reuses one buffer and resizes frames of another size with sharp', async () => {
    const pre = createPreprocessor(input({ width: 4, height: 4 }));
    expect(pre.dims).toEqual([1, 3, 4, 4]);
    const buffer = pre.data;
    await pre.run(rgbImage(4, 4, () => [255, 0, 0]));
    expect(pre.data).toBe(buffer);
    expect(Array.from(buffer.subarray(0, 16)).every((v) => v === 1)).toBe(true);
    // A uniform 16x12 frame stays uniform when scaled down to 4x4.
    await pre.run(rgbImage(16, 12, () => [0, 51, 255]));
    expect(pre.data).toBe(buffer);
    expect(buffer[0]).toBeCloseTo(0, 5);
    expect(buffer[16 + 5]).toBeCloseTo(0.2, 5);
    expect(buffer[32 + 15]).toBeCloseTo(1, 5);
  });
});
