// Overlay JPEGs for reviewers, the one renderer for every place an overlay is shown (review
// UI, Live, visor eval --out): the heat map as a colour map over the image on one scale fixed
// by the threshold (heatScale), its peak ringed, a legend with the threshold marked (anomaly);
// or the boxes (detection). Overlays are rendered when someone looks, never per frame: the
// store keeps the heat map as data.
import sharp, { type OverlayOptions as SharpOverlay } from 'sharp';
import { frameBoxToImage, frameOverImage, type Geometry } from '../common/geometry.js';
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
  /** The defect threshold in force: it fixes the colour scale (heatScale), the same for every overlay. */
  threshold: number;
  /** Draw the colour legend with the threshold marked (default true; images under LEGEND_MIN_WIDTH px wide never get one). */
  legend?: boolean;
  quality?: number;
}

/** Opacity of the colour map at the top of the scale (it ramps from transparent at the bottom). */
export const HEAT_MAX_ALPHA = 0.6;
/** Images narrower than this get no legend: it would cover what it explains. */
export const LEGEND_MIN_WIDTH = 160;

/**
 * The one heat-map colour scale, used by every overlay (stored, Live, eval): values from
 * threshold − s to threshold + s with s = |threshold| (1 when the threshold is 0), so for the
 * usual positive threshold it is [0, 2 × threshold] and the threshold sits at the middle of the
 * colour map (green); below it the colour fades to transparent blue, above it runs to red.
 */
export function heatScale(threshold: number): { lo: number; hi: number } {
  const s = Math.abs(threshold) > 1e-12 ? Math.abs(threshold) : 1;
  return { lo: threshold - s, hi: threshold + s };
}

/** Position of a value on the scale, 0..1 (a value that is not a number is the top: it cannot vouch for the part). */
function scalePosition(value: number, scale: { lo: number; hi: number }): number {
  const t = (value - scale.lo) / (scale.hi - scale.lo);
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 1;
}

/** RGBA of a heat-map value on the scale of `threshold`: "jet" colours, low values transparent. */
export function heatColour(value: number, threshold: number): [number, number, number, number] {
  const t = scalePosition(value, heatScale(threshold));
  return [Math.round(255 * jet(t - 0.25)), Math.round(255 * jet(t)), Math.round(255 * jet(t + 0.25)), Math.round(255 * HEAT_MAX_ALPHA * t)];
}

export async function renderOverlay(image: RawImage, output: ModelOutput, opts: OverlayOptions): Promise<Buffer> {
  const rgb = image.pixelFormat === 'gray' ? grayToRgb(image.data, image.width * image.height) : image.data;
  const rect = roiRect(image, opts.roi);
  const layers: SharpOverlay[] = [];
  const svg: string[] = [];

  if (output.heatMap && output.heatMap.width > 0 && output.heatMap.height > 0) {
    const map = output.heatMap;
    const colour = colourMap(map, opts.threshold);
    const heat = heatRect(rect, opts.geometry);
    // The part of the heat rectangle inside the image (pad bands lie outside it).
    const left = Math.max(0, heat.left);
    const top = Math.max(0, heat.top);
    const right = Math.min(image.width, heat.left + heat.width);
    const bottom = Math.min(image.height, heat.top + heat.height);
    if (right > left && bottom > top) {
      const input = await sharp(colour, { raw: { width: map.width, height: map.height, channels: 4 } })
        .resize(heat.width, heat.height, { fit: 'fill', kernel: 'linear' })
        .extract({ left: left - heat.left, top: top - heat.top, width: right - left, height: bottom - top })
        .png()
        .toBuffer();
      layers.push({ input, left, top });
    }
    const peak = peakCell(map);
    if (peak !== undefined) {
      // A ring around the hottest cell, in image pixels.
      const cw = heat.width / map.width;
      const ch = heat.height / map.height;
      const cx = heat.left + (peak.x + 0.5) * cw;
      const cy = heat.top + (peak.y + 0.5) * ch;
      const r = Math.max(Math.max(cw, ch) * 0.75, Math.min(image.width, image.height) / 40);
      const stroke = Math.max(2, Math.min(image.width, image.height) / 150);
      svg.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="none" stroke="#ffffff" stroke-width="${stroke.toFixed(1)}"/>`);
    }
    if ((opts.legend ?? true) && image.width >= LEGEND_MIN_WIDTH) svg.push(legendSvg(image, opts.threshold));
  }
  if (output.boxes && output.boxes.length > 0) {
    const inputSize = opts.inputSize ?? { width: rect.width, height: rect.height };
    svg.push(boxesSvg(output, rect, inputSize, image, opts.geometry));
  }
  if (svg.length > 0) {
    layers.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${image.width}" height="${image.height}">${svg.join('')}</svg>`), left: 0, top: 0 });
  }

  return sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .composite(layers)
    .jpeg({ quality: opts.quality ?? 85 })
    .toBuffer();
}

/** The hottest cell, or undefined when the map is flat (no position stands out). */
function peakCell(map: HeatMap): { x: number; y: number } | undefined {
  let best = 0;
  let lo = Infinity;
  for (let i = 0; i < map.data.length; i++) {
    const v = map.data[i]!;
    if (v > map.data[best]! || Number.isNaN(map.data[best]!)) best = i;
    if (v < lo) lo = v;
  }
  if (!(map.data[best]! > lo)) return undefined;
  return { x: best % map.width, y: Math.floor(best / map.width) };
}

/**
 * The colour bar along the bottom-left: bottom of the scale to its top, a tick at the threshold
 * (the middle) with its value, the ends labelled.
 */
function legendSvg(image: RawImage, threshold: number): string {
  const { lo, hi } = heatScale(threshold);
  const unit = Math.min(image.width, image.height);
  const margin = Math.round(Math.max(4, unit / 50));
  const width = Math.round(Math.min(image.width * 0.4, Math.max(120, unit * 0.5)));
  const height = Math.round(Math.max(6, unit / 40));
  const font = Math.round(Math.max(9, height * 1.2));
  const x = margin;
  const y = image.height - margin - height;
  const stops = Array.from({ length: 11 }, (_, i) => {
    const [r, g, b] = heatColour(lo + ((hi - lo) * i) / 10, threshold);
    return `<stop offset="${i * 10}%" stop-color="rgb(${r},${g},${b})"/>`;
  }).join('');
  const mid = x + width / 2;
  const label = (v: number) => escapeXml(Number(v.toPrecision(3)).toString());
  const text = (tx: number, anchor: string, s: string) =>
    `<text x="${tx.toFixed(1)}" y="${(y - font * 0.35).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="#ffffff" stroke="#000000" stroke-width="${(font / 8).toFixed(1)}" paint-order="stroke" text-anchor="${anchor}">${s}</text>`;
  return (
    `<g class="legend"><defs><linearGradient id="visor-heat" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>` +
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="url(#visor-heat)" stroke="#000000" stroke-width="1"/>` +
    `<line x1="${mid}" x2="${mid}" y1="${y - height * 0.5}" y2="${y + height * 1.5}" stroke="#ffffff" stroke-width="${Math.max(1.5, height / 4).toFixed(1)}"/>` +
    text(x, 'start', label(lo)) +
    text(mid, 'middle', `threshold ${label(threshold)}`) +
    text(x + width, 'end', label(hi)) +
    `</g>`
  );
}

/**
 * Rendered overlays by key (e.g. inspection id and threshold), least recently used evicted
 * first: a reviewer paging back and forth, or several browsers on Live, render each once.
 */
export interface OverlayCache {
  get(key: string, render: () => Promise<Buffer>): Promise<Buffer>;
  readonly size: number;
}

export function createOverlayCache(options: { maxEntries?: number } = {}): OverlayCache {
  const max = Math.max(1, options.maxEntries ?? 64);
  const entries = new Map<string, Promise<Buffer>>();
  return {
    get(key, render) {
      const hit = entries.get(key);
      if (hit) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const rendered = render();
      entries.set(key, rendered);
      // A failed render is not kept: the next request tries again.
      rendered.catch(() => {
        if (entries.get(key) === rendered) entries.delete(key);
      });
      while (entries.size > max) entries.delete(entries.keys().next().value!);
      return rendered;
    },
    get size() {
      return entries.size;
    },
  };
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

/** The heat map as RGBA pixels on the scale of `threshold` (heatColour). */
export function colourMap(heat: HeatMap, threshold: number): Buffer {
  const out = Buffer.alloc(heat.width * heat.height * 4);
  for (let i = 0; i < heat.width * heat.height; i++) out.set(heatColour(heat.data[i]!, threshold), i * 4);
  return out;
}

// Piecewise-linear jet: red = jet(t - 0.25), green = jet(t), blue = jet(t + 0.25).
function jet(x: number): number {
  return Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - 2)));
}

function boxesSvg(output: ModelOutput, rect: Rect, inputSize: { width: number; height: number }, image: RawImage, geometry?: Pick<Geometry, 'resize' | 'frame'>): string {
  const stroke = Math.max(2, Math.round(Math.min(image.width, image.height) / 200));
  const font = Math.max(10, stroke * 6);
  // Boxes are in model-frame pixels: through the model's geometry (a letterbox's bands, a crop)
  // back onto the rectangle; without a geometry the frame is the rectangle, stretched.
  const place = (b: { x1: number; y1: number; x2: number; y2: number }) => {
    if (geometry) return frameBoxToImage(b, { width: rect.width, height: rect.height }, geometry.resize, geometry.frame);
    const sx = rect.width / inputSize.width;
    const sy = rect.height / inputSize.height;
    return { x1: b.x1 * sx, y1: b.y1 * sy, x2: b.x2 * sx, y2: b.y2 * sy };
  };
  const parts = (output.boxes ?? []).map((b) => {
    const p = place(b);
    const x = rect.left + p.x1;
    const y = rect.top + p.y1;
    const w = p.x2 - p.x1;
    const h = p.y2 - p.y1;
    const text = escapeXml(`${b.label} ${b.score.toFixed(2)}`);
    return (
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="none" stroke="#ff3030" stroke-width="${stroke}"/>` +
      `<text x="${x.toFixed(1)}" y="${Math.max(font, y - stroke).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="#ff3030">${text}</text>`
    );
  });
  return parts.join('');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
