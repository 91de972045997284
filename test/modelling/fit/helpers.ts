// ELPV dev cells for fit tests (never the fixtures, which the tests score).
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { datasetDir } from '../../../datasets/index.js';
import { FIXTURES } from '../../helpers/paths.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';

export const ELPV = datasetDir('elpv-dev');

export interface Row {
  file: string;
  cellType: string;
  label: string;
}

export async function elpvRows(): Promise<Row[]> {
  const fixtures = new Set((await readdir(FIXTURES)).filter((f) => f.endsWith('.png')));
  const lines = (await readFile(path.join(ELPV, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  const h = lines[0]!.trim().split(',');
  return lines
    .slice(1)
    .map((l) => l.trim().split(','))
    .map((c) => ({ file: c[h.indexOf('file')]!, cellType: c[h.indexOf('cell_type')]!, label: c[h.indexOf('label')]! }))
    .filter((r) => !fixtures.has(path.basename(r.file))); // never fit on the fixtures we test with
}

/** A folder of symlinks to the rows' images. */
export async function linkFolder(dir: string, rows: readonly Row[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const r of rows) await symlink(path.join(ELPV, r.file), path.join(dir, path.basename(r.file)));
  return dir;
}

/**
 * `n` grey PNGs cut at random offsets from one large generated surface: tiles (a lattice of dark
 * grout lines) over value noise of several octaves. The same surface, never aligned, as a camera
 * over a tiled floor or a web sees it. Returns the folder.
 */
export async function shiftedTextures(dir: string, n: number, seed: number, side = 192): Promise<string> {
  await mkdir(dir, { recursive: true });
  const rand = seededRandom(seed);
  const canvas = 4 * side;
  const pixels = new Float32Array(canvas * canvas);
  for (const [cell, amp] of [[48, 60], [16, 40], [6, 25], [2, 12]] as const) {
    const g = Math.ceil(canvas / cell) + 2;
    const grid = Float32Array.from({ length: g * g }, () => rand() - 0.5);
    for (let y = 0; y < canvas; y++) {
      for (let x = 0; x < canvas; x++) {
        const gx = x / cell;
        const gy = y / cell;
        const x0 = Math.floor(gx);
        const y0 = Math.floor(gy);
        const fx = gx - x0;
        const fy = gy - y0;
        const at = (i: number, j: number): number => grid[(y0 + j) * g + (x0 + i)]!;
        const top = at(0, 0) * (1 - fx) + at(1, 0) * fx;
        const bottom = at(0, 1) * (1 - fx) + at(1, 1) * fx;
        pixels[y * canvas + x] += amp * (top * (1 - fy) + bottom * fy);
      }
    }
  }
  for (let y = 0; y < canvas; y++) for (let x = 0; x < canvas; x++) if (x % 37 < 4 || y % 41 < 4) pixels[y * canvas + x] -= 70;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const ox = Math.floor(rand() * (canvas - side));
    const oy = Math.floor(rand() * (canvas - side));
    const data = Buffer.alloc(side * side);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) data[y * side + x] = Math.max(0, Math.min(255, Math.round(128 + pixels[(oy + y) * canvas + ox + x]!)));
    const file = path.join(dir, `texture-${String(i).padStart(3, '0')}.png`);
    await sharp(data, { raw: { width: side, height: side, channels: 1 } }).png().toFile(file);
    files.push(file);
  }
  return dir;
}
