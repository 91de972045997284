// Fetches a development dataset from its public source repository at a pinned commit, checks
// every file against the manifest's sha256, and writes the set (images + labels.csv) into
// data/datasets/<name>. Nothing is written unless every file checks out.
//   npm run datasets -- fetch [NAME...]     (default: the sets the tests read)
//   npm run datasets -- ensure [NAME...]    (fetch only what the resolver cannot find)
//   npm run datasets -- where [NAME...]     (print each set's folder, or why it is missing)
// VISOR_DATASETS_GIT_BASE=URL_OR_DIR fetches from a mirror instead: the repository
// owner/name is appended to it (for example a folder of local clones).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decode as decodeBmp } from 'bmp-ts';
import sharp from 'sharp';
import { DATASETS, FETCHED_ROOT, MANIFEST_DIR, TEST_DATASETS, findDataset, isDatasetName, parseCsv, type DatasetName } from './index.js';

const run = promisify(execFile);

export interface DatasetSource {
  repository: string;
  commit: string;
  licence: string;
}

export class DatasetFetchError extends Error {
  override name = 'DatasetFetchError';
}

export function readSource(name: DatasetName, manifestDir = MANIFEST_DIR): DatasetSource {
  const sources = JSON.parse(readFileSync(path.join(manifestDir, 'sources.json'), 'utf8')) as Record<string, DatasetSource>;
  const s = sources[name];
  if (!s) throw new DatasetFetchError(`no source for dataset ${name} in ${path.join(manifestDir, 'sources.json')}`);
  return s;
}

/** The repository to clone: the source's URL, or owner/name under a mirror base. */
export function repositoryUrl(source: DatasetSource, gitBase?: string): string {
  if (!gitBase) return source.repository;
  const ownerName = new URL(source.repository).pathname.replace(/^\/+|\.git$/g, '');
  return /^[a-z]+:\/\//.test(gitBase) ? `${gitBase.replace(/\/+$/, '')}/${ownerName}` : path.resolve(gitBase, ownerName);
}

export interface FetchOptions {
  /** Folder the set is written into as <root>/<name> (default data/datasets). */
  root?: string;
  /** Mirror base (default $VISOR_DATASETS_GIT_BASE). */
  gitBase?: string;
  /** Folder of sources.json and <name>.csv (default datasets/). */
  manifestDir?: string;
  /** Where ensureDatasets looks first (default: the resolver's folders). */
  roots?: readonly string[];
  log?: (line: string) => void;
}

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

async function git(args: string[], cwd?: string): Promise<void> {
  try {
    await run('git', args, { cwd, maxBuffer: 1 << 24, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const lines = (e.stderr ?? e.message).trim().split('\n').filter(Boolean);
    const why = lines.find((l) => l.startsWith('fatal:')) ?? lines[0] ?? e.message;
    throw new DatasetFetchError(`git ${args[0]} failed: ${why}`);
  }
}

/** Writes one manifest row's image: a copy, or a lossless PNG of a BMP source. */
async function writeImage(src: Buffer, sourcePath: string, dest: string): Promise<void> {
  if (path.extname(sourcePath).toLowerCase() === '.bmp' && path.extname(dest).toLowerCase() === '.png') {
    const bmp = decodeBmp(src, { toRGBA: true });
    await sharp(Buffer.from(bmp.data), { raw: { width: bmp.width, height: bmp.height, channels: 4 } })
      .removeAlpha()
      .png()
      .toFile(dest);
    return;
  }
  await writeFile(dest, src);
}

/** Fetches one set; returns its folder. Throws DatasetFetchError naming the first problem. */
export async function fetchDataset(name: DatasetName, opts: FetchOptions = {}): Promise<string> {
  const manifestDir = opts.manifestDir ?? MANIFEST_DIR;
  const root = opts.root ?? FETCHED_ROOT;
  const log = opts.log ?? (() => {});
  const source = readSource(name, manifestDir);
  const url = repositoryUrl(source, opts.gitBase ?? process.env.VISOR_DATASETS_GIT_BASE);
  const rows = parseCsv(await readFile(path.join(manifestDir, `${name}.csv`), 'utf8'));
  const clone = await mkdtemp(path.join(os.tmpdir(), `visor-${name}-`));
  await mkdir(root, { recursive: true });
  const partial = path.join(root, `.${name}.partial`);
  try {
    log(`${name}: fetching ${url} at ${source.commit.slice(0, 12)}`);
    await git(['init', '--quiet', clone]);
    await git(['fetch', '--quiet', '--depth', '1', url, source.commit], clone);
    await git(['checkout', '--quiet', source.commit], clone);
    await rm(partial, { recursive: true, force: true });
    for (const row of rows) {
      const src = await readFile(path.join(clone, row.source!)).catch(() => {
        throw new DatasetFetchError(`${name}: ${row.source} is not in ${url} at ${source.commit}`);
      });
      const got = sha256(src);
      if (got !== row.sha256) throw new DatasetFetchError(`${name}: ${row.source} has sha256 ${got}, the manifest says ${row.sha256}`);
      const dest = path.join(partial, row.file);
      await mkdir(path.dirname(dest), { recursive: true });
      await writeImage(src, row.source!, dest);
    }
    const header = Object.keys(rows[0]!).filter((k) => k !== 'source' && k !== 'sha256');
    const labels = [header.join(','), ...rows.map((r) => header.map((h) => r[h]).join(','))].join('\n') + '\n';
    await writeFile(path.join(partial, 'labels.csv'), labels);
    await copyFile(path.join(manifestDir, `${name}.md`), path.join(partial, 'README.md')).catch(() => {});
    const dir = path.join(root, name);
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
    log(`${name}: ${rows.length} files checked and written to ${dir}`);
    return dir;
  } finally {
    await rm(clone, { recursive: true, force: true });
    await rm(partial, { recursive: true, force: true });
  }
}

/** Every named set the resolver cannot find is fetched; returns the sets it could get neither way. */
export async function ensureDatasets(names: readonly DatasetName[], opts: FetchOptions = {}): Promise<{ name: DatasetName; error: string }[]> {
  const failed: { name: DatasetName; error: string }[] = [];
  for (const name of names) {
    if (findDataset(name, opts.roots)) continue;
    try {
      await fetchDataset(name, opts);
    } catch (err) {
      failed.push({ name, error: (err as Error).message });
    }
  }
  return failed;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'where', ...rest] = argv;
  const bad = rest.filter((n) => !isDatasetName(n));
  if (bad.length || !['fetch', 'ensure', 'where'].includes(command)) {
    console.error(`usage: npm run datasets -- fetch|ensure|where [${DATASETS.join('|')}...]`);
    return 2;
  }
  const names = (rest.length ? rest : TEST_DATASETS) as DatasetName[];
  const log = (line: string): void => console.log(`[datasets] ${line}`);
  if (command === 'where') {
    for (const n of names) console.log(`${n}\t${findDataset(n) ?? 'missing'}`);
    return names.every((n) => findDataset(n)) ? 0 : 1;
  }
  const failed: { name: DatasetName; error: string }[] = [];
  if (command === 'ensure') failed.push(...(await ensureDatasets(names, { log })));
  else {
    for (const n of names) await fetchDataset(n, { log }).catch((err: Error) => failed.push({ name: n, error: err.message }));
  }
  for (const f of failed) {
    console.error(`[datasets] ${f.name} is missing and could not be fetched (${f.error}); get it with: npm run datasets -- fetch ${f.name} (or set VISOR_DATASETS to a folder that holds it)`);
  }
  return failed.length ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  process.exitCode = await main(process.argv.slice(2));
}
