// Inputs of `visor fit` / `visor eval`: folders of images, labels CSV files, and the images
// reviewers labelled (read from the store by the CLI, passed in here). Every problem is a FitInputError that names the file or folder.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { VisorError, errorMessage } from '../../common/errors.js';
import type { RawImage } from '../../common/types.js';
import { imageFromFile } from '../../inference/image.js';

export class FitInputError extends VisorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('FIT_INPUT_INVALID', message, options);
  }
}

/** What sharp decodes (BMP is not among them). */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp']);

export type Label = 'good' | 'defect';
export interface LabelledImage {
  /** Absolute path. */
  file: string;
  label: Label;
}

/** Image files directly in `dir`, sorted by name (absolute paths). */
export async function listImages(dir: string): Promise<string[]> {
  const abs = path.resolve(dir);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new FitInputError(`image folder ${abs} does not exist`);
  if (!st.isDirectory()) throw new FitInputError(`${abs} is not a folder`);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    throw new FitInputError(`cannot read image folder ${abs}: ${errorMessage(err)}`, { cause: err });
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
  if (files.length === 0) {
    throw new FitInputError(`image folder ${abs} holds no images (looked for ${[...IMAGE_EXTENSIONS].join(', ')}; ${names.length} other entries)`);
  }
  return files.map((n) => path.join(abs, n));
}

/**
 * Reads a CSV with a header holding at least `file` and `label` columns. Paths are relative to
 * the CSV's folder. Labels other than good/defect (e.g. "uncertain") are ignored, as are rows
 * whose label is missing; a listed file that does not exist is an error.
 */
export async function readLabelsCsv(csvPath: string): Promise<{ images: LabelledImage[]; ignored: number }> {
  const abs = path.resolve(csvPath);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new FitInputError(`cannot read labels file ${abs}: ${errorMessage(err)}`, { cause: err });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const fileCol = header.indexOf('file');
  const labelCol = header.indexOf('label');
  if (fileCol < 0 || labelCol < 0) throw new FitInputError(`${abs}: the header must have "file" and "label" columns (got "${lines[0] ?? ''}")`);
  const dir = path.dirname(abs);
  const images: LabelledImage[] = [];
  let ignored = 0;
  const missing: string[] = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(',').map((c) => c.trim());
    const label = cells[labelCol]?.toLowerCase();
    const file = cells[fileCol];
    if (!file || (label !== 'good' && label !== 'defect')) {
      ignored++;
      continue;
    }
    const full = path.resolve(dir, file);
    if (!(await stat(full).catch(() => undefined))?.isFile()) missing.push(file);
    else images.push({ file: full, label });
  }
  if (missing.length > 0) {
    throw new FitInputError(`${abs} lists ${missing.length} file(s) that do not exist: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  return { images, ignored };
}

/**
 * Images reviewers labelled (the store's reviewed images, handed in by the CLI): "good" → good,
 * any other label (defect or a class name) → defect.
 */
export function labelledFromReviews(reviewed: readonly { file: string; label: string }[]): LabelledImage[] {
  return reviewed.map((r) => ({ file: r.file, label: r.label.toLowerCase() === 'good' ? 'good' : 'defect' }));
}

export interface LoadedImage {
  file: string;
  image: RawImage;
}

export interface ImageLoadReport {
  /** "300x300" → count. */
  sizes: Record<string, number>;
  unreadable: { file: string; error: string }[];
}

/** Decodes files one by one, calling `use` for each readable one; unreadable files are reported, not fatal. */
export async function forEachImage(
  files: readonly string[],
  use: (img: LoadedImage, index: number) => Promise<void>,
  tick: () => void = () => undefined,
): Promise<ImageLoadReport> {
  const report: ImageLoadReport = { sizes: {}, unreadable: [] };
  // Decode the next image while the current one runs through the model.
  let next = files.length > 0 ? decode(files[0]!) : undefined;
  for (let i = 0; i < files.length; i++) {
    const current = await next!;
    next = i + 1 < files.length ? decode(files[i + 1]!) : undefined;
    if ('error' in current) report.unreadable.push({ file: files[i]!, error: current.error });
    else {
      const key = `${current.image.width}x${current.image.height}`;
      report.sizes[key] = (report.sizes[key] ?? 0) + 1;
      await use({ file: files[i]!, image: current.image }, i);
    }
    tick();
  }
  return report;
}

async function decode(file: string): Promise<{ image: RawImage } | { error: string }> {
  try {
    return { image: await imageFromFile(file) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}
