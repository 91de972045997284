// Overlay JPEGs for reviewers: the heat map as a colour map over the image (anomaly), or the
// boxes (detection). Only frames that are stored or shown get one.
import sharp, { type OverlayOptions as SharpOverlay } from 'sharp';
import { frameOverImage, type Geometry } from '../common/geometry.js';
import type { HeatMap, ModelOutput, RawImage } from '../common/types.js';

export interface OverlayOptions {
  /**
   * Where the inference frame lies in `image`, as fractions of its size (the camera ROI), when
   * `image` is the full-resolution frame. Absent: the inference frame is the whole image.
   */
  roi?: { x: number; y: number; width: number; height: number };
  /**
   * The model's geometry: the heat map covers its frame, which (padded or cropped) is not exactly
   * the image or ROI rectangle. Absent: the heat map covers the rectangle.
   */
  geometry?: Pick<Geometry, 'resize' | 'frame'>;
  /** Size of the inference frame box coordinates refer to. Default: the ROI rectangle's size in `image` pixels. */
  inputSize?: { width: number; height: number };
  /**
   * Heat-map values mapped to the bottom and top of the colour scale. Default: the map's own min and max;
   * pass e.g. [0, thresholds.defect] so that an ok frame does not look as alarming as a defect.
   */
  range?: [number, number];
  /** Opacity of the colour map where the heat is highest (0..1, default 0.6). */
  maxAlpha?: number;
  quality?: number;
}

export async function renderOverlay(image: RawImage, output: ModelOutput, opts: OverlayOptions = {}): Promise<Buffer> {
  const rgb = image.pixelFormat === 'gray' ? grayToRgb(image.data, image.width * image.height) : image.data;
  const rect = roiRect(image, opts.roi);
  const layers: SharpOverlay[] = [];

  if (output.heatMap && output.heatMap.width > 0 && output.heatMap.height > 0) {
    const colour = colourMap(output.heatMap, opts.range, opts.maxAlpha ?? 0.6);
    const heat = heatRect(rect, opts.geometry);
    // The part of the heat rectangle inside the image (pad bands lie outside it).
    const left = Math.max(0, heat.left);
    const top = Math.max(0, heat.top);
    const right = Math.min(image.width, heat.left + heat.width);
    const bottom = Math.min(image.height, heat.top + heat.height);
    if (right > left && bottom > top) {
      const input = await sharp(colour, { raw: { width: output.heatMap.width, height: output.heatMap.height, channels: 4 } })
        .resize(heat.width, heat.height, { fit: 'fill', kernel: 'linear' })
        .extract({ left: left - heat.left, top: top - heat.top, width: right - left, height: bottom - top })
        .png()
        .toBuffer();
      layers.push({ input, left, top });
    }
  }
  if (output.boxes && output.boxes.length > 0) {
    const inputSize = opts.inputSize ?? { width: rect.width, height: rect.height };
    layers.push({ input: Buffer.from(boxesSvg(output, rect, inputSize, image)), left: 0, top: 0 });
  }

  return sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .composite(layers)
    .jpeg({ quality: opts.quality ?? 85 })
    .toBuffer();
}

interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where the heat map lies in image pixels: the rectangle, or the model's frame over it. */
function heatRect(rect: Rect, geometry: OverlayOptions['geometry']): Rect {
  if (!geometry) return rect;
  const f = frameOverImage({ width: rect.width, height: rect.height }, geometry.resize, geometry.frame);
  return { left: Math.round(rect.left + f.left), top: Math.round(rect.top + f.top), width: Math.max(1, Math.round(f.width)), height: Math.max(1, Math.round(f.height)) };
}

function roiRect(image: RawImage, roi: OverlayOptions['roi']): Rect {
  if (!roi) return { left: 0, top: 0, width: image.width, height: image.height };
  const left = Math.min(image.width - 1, Math.max(0, Math.round(roi.x * image.width)));
  const top = Math.min(image.height - 1, Math.max(0, Math.round(roi.y * image.height)));
  const width = Math.max(1, Math.min(image.width - left, Math.round(roi.width * image.width)));
  const height = Math.max(1, Math.min(image.height - top, Math.round(roi.height * image.height)));
  return { left, top, width, height };
}

function grayToRgb(gray: Buffer, n: number): Buffer {
  const out = Buffer.allocUnsafe(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[j] = out[j + 1] = out[j + 2] = gray[i]!;
  return out;
}

/** RGBA "jet" colours; low values are transparent so the image stays readable where nothing is wrong. */
export function colourMap(heat: HeatMap, range: [number, number] | undefined, maxAlpha: number): Buffer {
  let lo = range?.[0];
  let hi = range?.[1];
  if (lo === undefined || hi === undefined) {
    lo = Infinity;
    hi = -Infinity;
    for (const v of heat.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const span = hi - lo > 1e-12 ? hi - lo : 1;
  const out = Buffer.alloc(heat.width * heat.height * 4);
  for (let i = 0; i < heat.width * heat.height; i++) {
    const raw = (heat.data[i]! - lo) / span;
    const t = Number.isFinite(raw) ? Math.min(1, Math.max(0, raw)) : 1;
    out[i * 4] = Math.round(255 * jet(t - 0.25));
    out[i * 4 + 1] = Math.round(255 * jet(t));
    out[i * 4 + 2] = Math.round(255 * jet(t + 0.25));
    out[i * 4 + 3] = Math.round(255 * maxAlpha * t);
  }
  return out;
}

// Piecewise-linear jet: red = jet(t - 0.25), green = jet(t), blue = jet(t + 0.25).
function jet(x: number): number {
  return Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 2)));
}

function boxesSvg(output: ModelOutput, rect: Rect, inputSize: { width: number; height: number }, image: RawImage): string {
  const sx = rect.width / inputSize.width;
  const sy = rect.height / inputSize.height;
  const stroke = Math.max(2, Math.round(Math.min(image.width, image.height) / 200));
  const font = Math.max(10, stroke * 6);
  const parts = (output.boxes ?? []).map((b) => {
    const x = rect.left + b.x1 * sx;
    const y = rect.top + b.y1 * sy;
    const w = (b.x2 - b.x1) * sx;
    const h = (b.y2 - b.y1) * sy;
    const text = escapeXml(`${b.label} ${b.score.toFixed(2)}`);
    return (
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="none" stroke="#ff3030" stroke-width="${stroke}"/>` +
      `<text x="${x.toFixed(1)}" y="${Math.max(font, y - stroke).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="#ff3030">${text}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${image.width}" height="${image.height}">${parts.join('')}</svg>`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
