// Inputs of `visor fit` / `visor eval`: folders of images, labels CSV files, and the verdicts
// reviewers gave in the store. Every problem is a FitInputError that names the file or folder.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../../config/load.js';
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
 * Reviewed inspections from the store the config file points at. The latest review row of an
 * inspection is its label: "good" → good, any other label (defect or a class name) → defect;
 * rows without a label (needs-expert, undone) and inspections whose image is gone are skipped.
 */
export function readStoreLabels(configFile: string): { images: LabelledImage[]; skipped: number; dataDir: string } {
  const { config, baseDir } = loadConfig(configFile);
  const dataDir = path.resolve(baseDir, config.store.dataDir);
  const dbPath = path.join(dataDir, 'visor.db');
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new FitInputError(`cannot open the store ${dbPath}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const hasReviews = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'`).get();
    if (!hasReviews) throw new FitInputError(`the store ${dbPath} has no reviews table (no verdicts given yet; run the line with the review UI first)`);
    const rows = db
      .prepare(
        `SELECT i.image_path AS imagePath, r.label AS label
           FROM reviews r JOIN inspections i ON i.id = r.inspection_id
          WHERE r.id = (SELECT MAX(r2.id) FROM reviews r2 WHERE r2.inspection_id = r.inspection_id)
          ORDER BY i.id`,
      )
      .all() as { imagePath: string | null; label: string | null }[];
    const images: LabelledImage[] = [];
    let skipped = 0;
    for (const r of rows) {
      if (r.label === null || r.imagePath === null) {
        skipped++;
        continue;
      }
      images.push({ file: path.join(dataDir, r.imagePath), label: r.label.toLowerCase() === 'good' ? 'good' : 'defect' });
    }
    return { images, skipped, dataDir };
  } finally {
    db.close();
  }
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
