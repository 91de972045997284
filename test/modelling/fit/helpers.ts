// ELPV dev cells for fit tests (never the fixtures, which the tests score).
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { datasetDir } from '../../../datasets/index.js';
import { FIXTURES } from '../../helpers/paths.js';

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
