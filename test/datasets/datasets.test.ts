// The dataset resolver and the fetch script, against a git repository made here (no network):
// a fetched set is checked file by file against the manifest, a bad checksum writes nothing,
// and a set that is nowhere is one line naming the command that gets it.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { encode as encodeBmp } from 'bmp-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetMissingError, datasetDir, datasetRoots, findDataset, readLabels } from '../../datasets/index.js';
import { DatasetFetchError, ensureDatasets, fetchDataset, repositoryUrl } from '../../datasets/fetch.js';
import { REPO } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

let tmp: string;
let cleanup: () => Promise<void>;
let commit: string;
let mirror: string;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

/** A repository shaped like an upstream one: two PNGs and a 4×3 BMP, committed. */
async function makeUpstream(dir: string): Promise<{ png: Buffer[]; bmp: Buffer; bmpPixels: Buffer }> {
  await mkdir(path.join(dir, 'data/images'), { recursive: true });
  const png: Buffer[] = [];
  for (const v of [40, 200]) {
    const buf = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
    await writeFile(path.join(dir, `data/images/cell${v}.png`), buf);
    png.push(buf);
  }
  // ABGR order, as bmp-ts encodes.
  const rgb = Buffer.from(Array.from({ length: 12 }, (_, i) => [(i * 20) % 256, (i * 7) % 256, (255 - i * 9) % 256]).flat());
  const abgr = Buffer.alloc(12 * 4);
  for (let i = 0; i < 12; i++) abgr.set([255, rgb[i * 3 + 2]!, rgb[i * 3 + 1]!, rgb[i * 3]!], i * 4);
  const bmp = Buffer.from(encodeBmp({ data: abgr, width: 4, height: 3, bitPP: 24 }).data);
  await writeFile(path.join(dir, 'data/paper.bmp'), bmp);
  git(dir, 'init', '--quiet');
  git(dir, 'add', '.');
  git(dir, 'commit', '--quiet', '-m', 'data');
  return { png, bmp, bmpPixels: rgb };
}

let up: Awaited<ReturnType<typeof makeUpstream>>;

async function writeManifest(dir: string, rows: string[], sourceCommit = commit): Promise<string> {
  await mkdir(dir, { recursive: true });
  const sources = { 'elpv-dev': { repository: 'https://github.com/acme/cells', commit: sourceCommit, licence: 'test' } };
  await writeFile(path.join(dir, 'sources.json'), JSON.stringify(sources));
  await writeFile(path.join(dir, 'elpv-dev.csv'), ['file,cell_type,label,source,sha256', ...rows].join('\n') + '\n');
  await writeFile(path.join(dir, 'elpv-dev.md'), '# test set\n');
  return dir;
}

beforeAll(async () => {
  ({ dir: tmp, cleanup } = await tempDir('visor-datasets-'));
  mirror = path.join(tmp, 'mirror');
  up = await makeUpstream(path.join(mirror, 'acme/cells'));
  commit = git(path.join(mirror, 'acme/cells'), 'rev-parse', 'HEAD');
});
afterAll(() => cleanup());

describe('dataset resolver', () => {
  it('looks in $VISOR_DATASETS, then the shared folder beside the clone, then data/datasets', () => {
    const beside = path.resolve(REPO, '..', 'shared', 'datasets');
    expect(datasetRoots({ VISOR_DATASETS: '/srv/sets' })).toEqual(['/srv/sets', beside, path.join(REPO, 'data/datasets')]);
    expect(datasetRoots({})).toEqual([beside, path.join(REPO, 'data/datasets')]);
  });

  it('takes the first folder that has the set, and names every folder and the fetch command when none has it', async () => {
    const a = path.join(tmp, 'roots/a');
    const b = path.join(tmp, 'roots/b');
    await mkdir(path.join(b, 'elpv-dev'), { recursive: true });
    await writeFile(path.join(b, 'elpv-dev/labels.csv'), 'file,label\nimages/x.png,good\n');
    expect(findDataset('elpv-dev', [a, b])).toBe(path.join(b, 'elpv-dev'));
    expect(readLabels('elpv-dev', [a, b])).toEqual([{ file: 'images/x.png', label: 'good', path: path.join(b, 'elpv-dev/images/x.png') }]);
    // A folder without labels.csv does not count.
    await mkdir(path.join(a, 'casting-dev'), { recursive: true });
    let err: unknown;
    try {
      datasetDir('casting-dev', [a, b]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatasetMissingError);
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toContain(path.join(a, 'casting-dev'));
    expect(msg).toContain(path.join(b, 'casting-dev'));
    expect(msg).toContain('npm run datasets -- fetch casting-dev');
  });
});

describe('dataset fetch', () => {
  it('maps a repository to a mirror folder or URL base', () => {
    const src = { repository: 'https://github.com/acme/cells', commit, licence: '' };
    expect(repositoryUrl(src)).toBe('https://github.com/acme/cells');
    expect(repositoryUrl(src, '/srv/mirror')).toBe('/srv/mirror/acme/cells');
    expect(repositoryUrl(src, 'https://git.example.test/mirrors/')).toBe('https://git.example.test/mirrors/acme/cells');
  });

  it('fetches the pinned commit, checks every file, writes labels.csv without the manifest columns, and turns BMP into lossless PNG', async () => {
    const manifest = await writeManifest(path.join(tmp, 'manifest-ok'), [
      `images/cell40.png,mono,good,data/images/cell40.png,${sha256(up.png[0]!)}`,
      `images/cell200.png,poly,defect,data/images/cell200.png,${sha256(up.png[1]!)}`,
      `images/paper.png,mono,good,data/paper.bmp,${sha256(up.bmp)}`,
    ]);
    // A later commit upstream must not change what the pinned manifest gets.
    const repo = path.join(mirror, 'acme/cells');
    await writeFile(path.join(repo, 'data/images/cell40.png'), 'changed later');
    git(repo, 'commit', '--quiet', '-am', 'later');
    const root = path.join(tmp, 'out');
    const lines: string[] = [];
    const dir = await fetchDataset('elpv-dev', { root, gitBase: mirror, manifestDir: manifest, log: (l) => lines.push(l) });
    expect(dir).toBe(path.join(root, 'elpv-dev'));
    expect(await readFile(path.join(dir, 'labels.csv'), 'utf8')).toBe('file,cell_type,label\nimages/cell40.png,mono,good\nimages/cell200.png,poly,defect\nimages/paper.png,mono,good\n');
    expect(await readFile(path.join(dir, 'images/cell40.png'))).toEqual(up.png[0]);
    const { data, info } = await sharp(path.join(dir, 'images/paper.png')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([4, 3, 3]);
    expect(data).toEqual(up.bmpPixels);
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toBe('# test set\n');
    expect(lines.at(-1)).toBe(`elpv-dev: 3 files checked and written to ${dir}`);
    // The resolver finds what was fetched.
    expect(findDataset('elpv-dev', [path.join(tmp, 'nowhere'), root])).toBe(dir);
  });

  it('refuses a file whose checksum differs from the manifest and writes nothing', async () => {
    const manifest = await writeManifest(path.join(tmp, 'manifest-bad'), [
      `images/cell40.png,mono,good,data/images/cell40.png,${sha256(up.png[0]!)}`,
      `images/cell200.png,poly,defect,data/images/cell200.png,${'0'.repeat(64)}`,
    ]);
    const root = path.join(tmp, 'out-bad');
    await expect(fetchDataset('elpv-dev', { root, gitBase: mirror, manifestDir: manifest })).rejects.toThrow(
      new DatasetFetchError(`elpv-dev: data/images/cell200.png has sha256 ${sha256(up.png[1]!)}, the manifest says ${'0'.repeat(64)}`),
    );
    expect(await readdir(root)).toEqual([]);
  });

  it('names the repository when it cannot be reached, and ensureDatasets reports the set instead of throwing', async () => {
    const manifest = await writeManifest(path.join(tmp, 'manifest-offline'), [`images/cell40.png,mono,good,data/images/cell40.png,${sha256(up.png[0]!)}`]);
    const opts = { root: path.join(tmp, 'out-offline'), gitBase: path.join(tmp, 'no-mirror'), manifestDir: manifest, roots: [path.join(tmp, 'out-offline')] };
    await expect(fetchDataset('elpv-dev', opts)).rejects.toThrow(/^git fetch failed: .*no-mirror\/acme\/cells/);
    const failed = await ensureDatasets(['elpv-dev'], opts);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.name).toBe('elpv-dev');
    expect(existsSync(path.join(tmp, 'out-offline/elpv-dev'))).toBe(false);
  });

  it('the CLI says in one line which set is missing and how to get it, and exits 1', () => {
    const empty = path.join(tmp, 'empty-mirror');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'datasets/fetch.ts'), 'fetch', 'elpv-dev'], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, VISOR_DATASETS_GIT_BASE: empty },
    });
    expect(r.status).toBe(1);
    const errLines = r.stderr.trim().split('\n');
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(/^\[datasets\] elpv-dev is missing and could not be fetched \(git fetch failed: .*\); get it with: npm run datasets -- fetch elpv-dev/);
  });
});
