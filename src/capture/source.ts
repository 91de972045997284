// Where a camera's frames come from: source kind, resolved input, region of interest.
import { statSync } from 'node:fs';
import path from 'node:path';
import type { RoiConfig } from '../config/schema.js';

export type SourceKind = 'rtsp' | 'v4l2' | 'file' | 'folder' | 'http';

/** Infers the kind of a camera source: URL scheme, V4L2 device path, directory, else a file. */
export function resolveSourceKind(source: string, baseDir: string): SourceKind {
  if (/^rtsps?:\/\//i.test(source)) return 'rtsp';
  if (/^https?:\/\//i.test(source)) return 'http';
  if (source.startsWith('/dev/video')) return 'v4l2';
  try {
    if (statSync(path.resolve(baseDir, source)).isDirectory()) return 'folder';
  } catch {
    // Missing path: treat as a file; ffmpeg's error then says what is wrong, and the watchdog retries.
  }
  return 'file';
}

/** The string handed to ffmpeg / fetch / the folder reader: local paths resolved against baseDir. */
export function resolveInput(kind: SourceKind, source: string, baseDir: string): string {
  return kind === 'file' || kind === 'folder' ? path.resolve(baseDir, source) : source;
}

/** ROI as fractions, clipped to the frame; undefined when the whole frame is used. */
export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function normalizeRoi(roi: RoiConfig | undefined): Roi | undefined {
  if (!roi) return undefined;
  const width = Math.min(roi.width, 1 - roi.x);
  const height = Math.min(roi.height, 1 - roi.y);
  if (width <= 0 || height <= 0) return { x: roi.x, y: roi.y, width: 0, height: 0 };
  if (roi.x === 0 && roi.y === 0 && width === 1 && height === 1) return undefined;
  return { x: roi.x, y: roi.y, width, height };
}

/** ROI in whole pixels of a width×height image, at least one pixel. */
export function roiPixels(roi: Roi, width: number, height: number): { left: number; top: number; width: number; height: number } {
  const left = Math.min(width - 1, Math.round(roi.x * width));
  const top = Math.min(height - 1, Math.round(roi.y * height));
  return {
    left,
    top,
    width: Math.max(1, Math.min(width - left, Math.round(roi.width * width))),
    height: Math.max(1, Math.min(height - top, Math.round(roi.height * height))),
  };
}
