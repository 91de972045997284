// RawImage → the model's frame (src/common/geometry.ts) → its tiles as normalised planar
// Float32 NCHW, written into one reused buffer per inferencer.
import type { RawImage } from '../common/types.js';
import { stretchGeometry, tileOrigins, toFrame, type Geometry } from '../common/geometry.js';
import type { ModelManifest } from './manifest.js';
import { channelCount } from './package.js';

type InputSpec = ModelManifest['input'];

export interface Preprocessor {
  /** The model input of every tile, N×C×H×W (tile after tile), overwritten by every `run`. */
  readonly data: Float32Array;
  /** Dims of one tile's input, 1×C×H×W; `data` holds `tiles` of them. */
  readonly dims: readonly [1, number, number, number];
  readonly tiles: number;
  /** Fills `data` from the image: brought to the frame (sharp, only when its size differs from the frame's), then cut into tiles. */
  run(image: RawImage): Promise<void>;
}

export function createPreprocessor(input: InputSpec, geometry: Geometry = stretchGeometry(input)): Preprocessor {
  const planes = channelCount(input.channels);
  const origins = tileOrigins(geometry, input);
  const tileSize = planes * input.width * input.height;
  const data = new Float32Array(tileSize * origins.length);
  const luts = channelLuts(input);
  const { frame } = geometry;
  return {
    data,
    dims: [1, planes, input.height, input.width],
    tiles: origins.length,
    async run(image) {
      const framed = image.width === frame.width && image.height === frame.height ? image : await toFrame(image, geometry.resize, frame, geometry.padValue);
      origins.forEach((o, t) => writePlanar(framed, input, luts, data.subarray(t * tileSize, (t + 1) * tileSize), o.x, o.y));
    },
  };
}

/** Synchronous normalisation of an image already at input size (exported for tests and benchmarks). */
export function normalizeInto(image: RawImage, input: InputSpec, out: Float32Array): void {
  if (image.width !== input.width || image.height !== input.height) {
    throw new RangeError(`image is ${image.width}x${image.height} but the model input is ${input.width}x${input.height}`);
  }
  writePlanar(image, input, channelLuts(input), out);
}

/** Stretches an image to width×height with the shared rule (src/common/geometry.ts). */
export function resizeImage(image: RawImage, width: number, height: number): Promise<RawImage> {
  return toFrame(image, 'stretch', { width, height });
}

export function bytesPerPixel(image: RawImage): 1 | 3 {
  return image.pixelFormat === 'gray' ? 1 : 3;
}

/**
 * One 256-entry table per model channel: value = (p * scale - mean[c]) / std[c].
 * mean/std are indexed in the model's channel order (for BGR, mean[0] is blue); a single value applies to all.
 */
function channelLuts(input: InputSpec): Float32Array[] {
  const planes = channelCount(input.channels);
  const luts: Float32Array[] = [];
  for (let c = 0; c < planes; c++) {
    const mean = input.mean[input.mean.length === 1 ? 0 : c]!;
    const std = input.std[input.std.length === 1 ? 0 : c]!;
    const lut = new Float32Array(256);
    for (let p = 0; p < 256; p++) lut[p] = (p * input.scale - mean) / std;
    luts.push(lut);
  }
  return luts;
}

// BT.601 luma, the weights ffmpeg and most cameras use for gray.
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

/** Normalises the input-size window of `image` at (x0, y0) into `out` (one tile, planar). */
function writePlanar(image: RawImage, input: InputSpec, luts: Float32Array[], out: Float32Array, x0 = 0, y0 = 0): void {
  const bpp = bytesPerPixel(image);
  const src = image.data;
  if (src.length < image.width * image.height * bpp) {
    throw new RangeError(`image data has ${src.length} bytes, expected ${image.width * image.height * bpp} for ${image.width}x${image.height} ${image.pixelFormat}`);
  }
  const w = input.width;
  const h = input.height;
  const n = w * h;
  // Which byte of the pixel feeds model plane 0, 1, 2 (gray pixels feed every plane).
  const order = image.pixelFormat === 'gray' ? [0, 0, 0] : input.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < h; y++) {
    const row = ((y0 + y) * image.width + x0) * bpp;
    const at = y * w;
    if (input.channels === 'GRAY') {
      if (image.pixelFormat === 'gray') {
        const lut = luts[0]!;
        for (let x = 0; x < w; x++) out[at + x] = lut[src[row + x]!]!;
      } else {
        const mean = input.mean[0]!;
        const std = input.std[0]!;
        for (let x = 0, j = row; x < w; x++, j += 3) {
          const v = LUMA_R * src[j]! + LUMA_G * src[j + 1]! + LUMA_B * src[j + 2]!;
          out[at + x] = (v * input.scale - mean) / std;
        }
      }
      continue;
    }
    for (let c = 0; c < 3; c++) {
      const lut = luts[c]!;
      const base = c * n + at;
      for (let x = 0, j = row + order[c]!; x < w; x++, j += bpp) out[base + x] = lut[src[j]!]!;
    }
  }
}
