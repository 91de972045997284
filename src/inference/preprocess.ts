// RawImage → normalised planar Float32 NCHW, written into one reused buffer per inferencer.
import sharp from 'sharp';
import type { RawImage } from '../common/types.js';
import { RESIZE_KERNEL } from '../common/scaling.js';
import type { ModelManifest } from './manifest.js';
import { channelCount } from './package.js';

type InputSpec = ModelManifest['input'];

export interface Preprocessor {
  /** The model input, 1×C×H×W, overwritten by every `run`. */
  readonly data: Float32Array;
  readonly dims: readonly [1, number, number, number];
  /** Fills `data` from the image (resizing with sharp only when the size differs). */
  run(image: RawImage): Promise<void>;
}

export function createPreprocessor(input: InputSpec): Preprocessor {
  const planes = channelCount(input.channels);
  const data = new Float32Array(planes * input.width * input.height);
  const luts = channelLuts(input);
  return {
    data,
    dims: [1, planes, input.height, input.width],
    async run(image) {
      const sized = image.width === input.width && image.height === input.height ? image : await resizeImage(image, input.width, input.height);
      writePlanar(sized, input, luts, data);
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

/** Scales an image to the model input with the shared rule (src/common/scaling.ts). */
export async function resizeImage(image: RawImage, width: number, height: number): Promise<RawImage> {
  const channels = bytesPerPixel(image);
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels } })
    .resize(width, height, { fit: 'fill', kernel: RESIZE_KERNEL })
    .raw()
    .toBuffer();
  return { width, height, pixelFormat: image.pixelFormat, data };
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

function writePlanar(image: RawImage, input: InputSpec, luts: Float32Array[], out: Float32Array): void {
  const n = image.width * image.height;
  const src = image.data;
  if (src.length < n * bytesPerPixel(image)) {
    throw new RangeError(`image data has ${src.length} bytes, expected ${n * bytesPerPixel(image)} for ${image.width}x${image.height} ${image.pixelFormat}`);
  }
  if (input.channels === 'GRAY') {
    const lut = luts[0]!;
    if (image.pixelFormat === 'gray') {
      for (let i = 0; i < n; i++) out[i] = lut[src[i]!]!;
    } else {
      const mean = input.mean[0]!;
      const std = input.std[0]!;
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        const y = LUMA_R * src[j]! + LUMA_G * src[j + 1]! + LUMA_B * src[j + 2]!;
        out[i] = (y * input.scale - mean) / std;
      }
    }
    return;
  }
  // Which byte of the RGB pixel feeds model plane 0, 1, 2.
  const order = input.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let c = 0; c < 3; c++) {
    const lut = luts[c]!;
    const base = c * n;
    if (image.pixelFormat === 'gray') {
      for (let i = 0; i < n; i++) out[base + i] = lut[src[i]!]!;
    } else {
      for (let i = 0, j = order[c]!; i < n; i++, j += 3) out[base + i] = lut[src[j]!]!;
    }
  }
}
