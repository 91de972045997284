// The one place that finds the bulk development datasets (real labelled images for tests,
// benchmarks and the demo model). They are not in the repository; they are found in, in order:
//   1. $VISOR_DATASETS/<name>            (a folder that holds the sets)
//   2. <repo>/../shared/datasets/<name>  (the development machines and CI)
//   3. <repo>/data/datasets/<name>       (where `npm run datasets -- fetch` puts them)
// A set counts as present when its folder has labels.csv.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MANIFEST_DIR = path.join(REPO_ROOT, 'datasets');
/** Where the fetch script writes the sets. */
export const FETCHED_ROOT = path.join(REPO_ROOT, 'data', 'datasets');

export const DATASETS = ['elpv-dev', 'casting-dev', 'paper-dev'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** The sets the test suite reads. */
export const TEST_DATASETS: readonly DatasetName[] = ['elpv-dev'];

export class DatasetMissingError extends Error {
  constructor(readonly dataset: string, readonly searched: readonly string[]) {
    super(`dataset ${dataset} not found (looked in ${searched.join(', ')}); get it with: npm run datasets -- fetch ${dataset}`);
    this.name = 'DatasetMissingError';
  }
}

export function isDatasetName(name: string): name is DatasetName {
  return (DATASETS as readonly string[]).includes(name);
}

/** The folders that may hold the sets, in the order they are looked in. */
export function datasetRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.VISOR_DATASETS, path.resolve(REPO_ROOT, '..', 'shared', 'datasets'), FETCHED_ROOT].filter((r): r is string => !!r);
}

export function findDataset(name: DatasetName, roots: readonly string[] = datasetRoots()): string | undefined {
  return roots.map((r) => path.resolve(r, name)).find((dir) => existsSync(path.join(dir, 'labels.csv')));
}

/** The set's folder; throws DatasetMissingError (one line, naming the command that gets it). */
export function datasetDir(name: DatasetName, roots: readonly string[] = datasetRoots()): string {
  const dir = findDataset(name, roots);
  if (!dir) throw new DatasetMissingError(name, roots.map((r) => path.resolve(r, name)));
  return dir;
}

/** One row of a set's labels.csv: its columns by header, `file` relative to the set's folder. */
export type LabelRow = Record<string, string> & { file: string; label: string };

export function parseCsv(text: string): LabelRow[] {
  const lines = text.trim().split(/\r?\n/);
  const header = lines[0]!.trim().split(',');
  return lines.slice(1).map((line) => {
    const cells = line.trim().split(',');
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])) as LabelRow;
  });
}

/** The set's labels.csv rows; `path` is the absolute path of each image. */
export function readLabels(name: DatasetName, roots: readonly string[] = datasetRoots()): (LabelRow & { path: string })[] {
  const dir = datasetDir(name, roots);
  return parseCsv(readFileSync(path.join(dir, 'labels.csv'), 'utf8')).map((r) => ({ ...r, path: path.join(dir, r.file) }));
}
