/**
 * How an image becomes model input, one rule for capture (sharp and ffmpeg), fit, eval, inspect
 * and the line. The image (a camera's ROI) is brought to the model's *frame* size, keeping its
 * aspect ratio (`pad`, `crop`) or not (`stretch`, what packages without a geometry get), and the
 * frame is cut into overlapping tiles of the model input size (one tile when the frame is the
 * input size). Capture delivers frames at the frame size, so on the line only the cut is left.
 */
import sharp, { type Sharp } from 'sharp';
import type { RawImage } from './types.js';

/** sharp's kernel for every resize; ffmpeg sources use the nearest equivalent, FFMPEG_SCALE_FLAGS. */
export const RESIZE_KERNEL = 'linear' as const;
export const FFMPEG_SCALE_FLAGS = 'bilinear';

export interface Size {
  width: number;
  height: number;
}

/**
 * stretch: scaled to the frame, aspect ratio ignored. pad: scaled to fit inside the frame, the
 * rest filled with PAD_COLOUR (the whole image is seen). crop: scaled to cover the frame, the
 * overhang cut off evenly on both sides.
 */
export type Resize = 'stretch' | 'pad' | 'crop';
/** Every Resize, the default first (for option checks and help texts). */
export const RESIZES = ['pad', 'crop', 'stretch'] as const satisfies readonly Resize[];

export interface Geometry {
  resize: Resize;
  /** Size the image is brought to; at least the model input in both directions. */
  frame: Size;
  /** Tiles of model-input size over the frame, evenly spaced, the outer ones at its edges. */
  tiles: { columns: number; rows: number };
  /** Gray level (0..255) of the pad bands (resize "pad"); default PAD_VALUE. YOLO's letterbox uses 114. */
  padValue?: number;
}

/** Pad bands are black by default: ffmpeg's pad filter default, and dark like most backgrounds. */
export const PAD_VALUE = 0;
export const PAD_COLOUR = { r: PAD_VALUE, g: PAD_VALUE, b: PAD_VALUE } as const;

/** What a package without a geometry gets: the image stretched to the input, one tile. */
export function stretchGeometry(input: Size): Geometry {
  return { resize: 'stretch', frame: { width: input.width, height: input.height }, tiles: { columns: 1, rows: 1 } };
}

/** Where an image of `source` size lands in the frame: scaled to `scaled`, its top-left at (left, top); negative = cut off. */
export interface Placement {
  scaled: Size;
  left: number;
  top: number;
}

export function placement(source: Size, resize: Resize, frame: Size): Placement {
  if (resize === 'stretch') return { scaled: { ...frame }, left: 0, top: 0 };
  const s = resize === 'pad' ? Math.min(frame.width / source.width, frame.height / source.height) : Math.max(frame.width / source.width, frame.height / source.height);
  // The side that decides the scale gets the frame's size exactly (no rounding gap).
  const side = (n: number, f: number): number => {
    const v = Math.max(1, Math.round(n * s));
    return resize === 'pad' ? Math.min(f, v) : Math.max(f, v);
  };
  const scaled = { width: side(source.width, frame.width), height: side(source.height, frame.height) };
  return { scaled, left: Math.floor((frame.width - scaled.width) / 2), top: Math.floor((frame.height - scaled.height) / 2) };
}

/** Top-left corners of the tiles in the frame, row by row. */
export function tileOrigins(g: Geometry, input: Size): { x: number; y: number }[] {
  const along = (n: number, frame: number, tile: number): number[] =>
    n <= 1 ? [Math.floor((frame - tile) / 2)] : Array.from({ length: n }, (_, i) => Math.round((i * (frame - tile)) / (n - 1)));
  const xs = along(g.tiles.columns, g.frame.width, input.width);
  const ys = along(g.tiles.rows, g.frame.height, input.height);
  return ys.flatMap((y) => xs.map((x) => ({ x, y })));
}

export function tileCount(g: Geometry): number {
  return g.tiles.columns * g.tiles.rows;
}

/** Problems of a geometry for a model input (empty when it is sound): the tiles must cover the frame. */
export function geometryIssues(g: Geometry, input: Size): string[] {
  const issues: string[] = [];
  for (const [axis, frame, tile, n] of [
    ['width', g.frame.width, input.width, g.tiles.columns],
    ['height', g.frame.height, input.height, g.tiles.rows],
  ] as const) {
    if (frame < tile) issues.push(`geometry.frame.${axis} ${frame} is smaller than the input ${axis} ${tile}`);
    else if (n === 1 && frame !== tile) issues.push(`geometry.frame.${axis} ${frame} differs from the input ${axis} ${tile} but there is one tile along it (the tiles would not cover the frame)`);
    else if (n > 1 && frame > tile * n) issues.push(`geometry: ${n} tiles of ${tile} px do not cover the frame ${axis} ${frame}`);
  }
  return issues;
}

/** "pad to 1024x256, 5x1 tiles of 256x256" — for messages and model cards. */
export function describeGeometry(g: Geometry, input: Size): string {
  const n = tileCount(g);
  const how = g.resize === 'stretch' ? 'stretched' : g.resize === 'pad' ? 'aspect ratio kept, padded' : 'aspect ratio kept, centre-cropped';
  const frame = `${g.frame.width}x${g.frame.height}`;
  return n === 1 ? `${how} to ${frame}` : `${how} to ${frame}, cut into ${g.tiles.columns}x${g.tiles.rows} overlapping tiles of ${input.width}x${input.height} (${n} model runs per image)`;
}

/** Applies resize + pad/crop to a sharp pipeline whose current output is `source` sized; pad bands are gray level `padValue`. */
export function toFrameOps(pipeline: Sharp, source: Size, resize: Resize, frame: Size, padValue = PAD_VALUE): Sharp {
  const p = placement(source, resize, frame);
  let out = pipeline.resize(p.scaled.width, p.scaled.height, { fit: 'fill', kernel: RESIZE_KERNEL });
  if (p.left > 0 || p.top > 0 || p.scaled.width < frame.width || p.scaled.height < frame.height) {
    out = out.extend({
      left: p.left,
      top: p.top,
      right: frame.width - p.scaled.width - p.left,
      bottom: frame.height - p.scaled.height - p.top,
      background: { r: padValue, g: padValue, b: padValue, alpha: 1 },
    });
  }
  if (p.left < 0 || p.top < 0) out = out.extract({ left: -p.left, top: -p.top, width: frame.width, height: frame.height });
  return out;
}

/** The image brought to the frame (see toFrameOps); the same pixel format. */
export async function toFrame(image: RawImage, resize: Resize, frame: Size, padValue = PAD_VALUE): Promise<RawImage> {
  const channels = image.pixelFormat === 'gray' ? 1 : 3;
  let pipeline = toFrameOps(sharp(image.data, { raw: { width: image.width, height: image.height, channels } }), image, resize, frame, padValue);
  // Padding with a colour turns a one-channel image into RGB; a gray image stays gray.
  if (channels === 1) pipeline = pipeline.extractChannel(0);
  const data = await pipeline.raw().toBuffer();
  return { width: frame.width, height: frame.height, pixelFormat: image.pixelFormat, data };
}

/**
 * The same rule as an ffmpeg filter chain ending in rgb24 at the frame size. ffmpeg works out
 * the scaled size itself (force_original_aspect_ratio), which can differ from placement() by a
 * pixel of rounding; sharp sources and offline scoring match exactly.
 */
export function ffmpegFrameFilter(resize: Resize, frame: Size, padValue = PAD_VALUE): string {
  const { width, height } = frame;
  if (resize === 'stretch') return `scale=${width}:${height}:flags=${FFMPEG_SCALE_FLAGS},format=rgb24`;
  const fit = resize === 'pad' ? 'decrease' : 'increase';
  const scale = `scale=w=${width}:h=${height}:force_original_aspect_ratio=${fit}:flags=${FFMPEG_SCALE_FLAGS},format=rgb24`;
  return resize === 'pad'
    ? `${scale},pad=w=${width}:h=${height}:x=(ow-iw)/2:y=(oh-ih)/2:color=${padValue === 0 ? 'black' : `0x${padValue.toString(16).padStart(2, '0').repeat(3)}`}`
    : `${scale},crop=w=${width}:h=${height}:x=(iw-ow)/2:y=(ih-oh)/2`;
}

/** Where the frame lies over the image it was made from, in that image's pixels (pad: beyond its edges). */
export function frameOverImage(source: Size, resize: Resize, frame: Size): { left: number; top: number; width: number; height: number } {
  const p = placement(source, resize, frame);
  const sx = source.width / p.scaled.width;
  const sy = source.height / p.scaled.height;
  return { left: -p.left * sx, top: -p.top * sy, width: frame.width * sx, height: frame.height * sy };
}

/**
 * A box in frame pixels (a detector's output: the frame is its input) mapped back onto the image
 * the frame was made from, in that image's pixels, clipped to it: undoes the letterbox (pad) or
 * the centre crop. Overlays and reports use it so boxes land where the part is.
 */
export function frameBoxToImage<B extends { x1: number; y1: number; x2: number; y2: number }>(box: B, source: Size, resize: Resize, frame: Size): B {
  const p = placement(source, resize, frame);
  const sx = source.width / p.scaled.width;
  const sy = source.height / p.scaled.height;
  const x = (v: number) => Math.min(source.width, Math.max(0, (v - p.left) * sx));
  const y = (v: number) => Math.min(source.height, Math.max(0, (v - p.top) * sy));
  return { ...box, x1: x(box.x1), y1: y(box.y1), x2: x(box.x2), y2: y(box.y2) };
}
