// `visor dataset pull` against samples a line uploaded to real Azurite.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerFromArgument } from '../../src/upload/blob.js';
import { pullDataset, type PullFilter } from '../../src/upload/pull.js';
import type { Inspection } from '../../src/common/types.js';
import { CLI } from '../helpers/paths.js';
import { ACCOUNT_KEY, startAzurite, type Azurite } from './azurite.js';
import { startTestLine, until } from './helpers.js';

const exec = promisify(execFile);
const CONTAINER = 'dataset';
const DAY = 86_400_000;
const day1 = Date.parse('2025-05-01T08:00:00Z');

let azurite: Azurite;
let dir: string;
const samples: Record<string, Inspection> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-pull-'));
  azurite = await startAzurite();
  const line = await startTestLine({ upload: { connectionString: azurite.connectionString, container: CONTAINER, okSampleFraction: 1 } }, path.join(dir, 'data'));
  try {
    samples.aDefect1 = line.save('defect', { capturedAt: day1 });
    samples.aOk1 = line.save('ok', { capturedAt: day1 + 1000 });
    samples.aUncertain2 = line.save('uncertain', { capturedAt: day1 + DAY });
    samples.aDefect3 = line.save('defect', { capturedAt: day1 + 2 * DAY, modelVersion: '0.2.0' });
    samples.bOk1 = line.save('ok', { capturedAt: day1 + 2000, cameraId: 'cam-b' });
    samples.bDefect2 = line.save('defect', { capturedAt: day1 + DAY + 1000, cameraId: 'cam-b' });
    await until('six uploads', () => line.upload.status().uploaded === 6);
    // A reviewer rejects cam-b's defect as good.
    for (const review of line.ctx.store.reviews.record({ ids: [samples.bDefect2.id], decision: 'rejected', user: 'qa' })) line.ctx.bus.emit('review', review);
    await until('the label update', () => line.upload.status().uploaded === 7 && line.upload.status().queueDepth === 0);
  } finally {
    await line.close();
  }
});
afterAll(async () => {
  await azurite?.dispose();
  await rm(dir, { recursive: true, force: true });
});

let outs = 0;
async function pull(filter: PullFilter, useTags = true) {
  const out = path.join(dir, `out-${++outs}`);
  const result = await pullDataset({ target: containerFromArgument(azurite.connectionString, CONTAINER, { timeoutMs: 10_000 }), out, useTags, ...filter });
  const csv = (await readFile(path.join(out, 'labels.csv'), 'utf8')).trim().split('\n');
  const rows = csv.slice(1).map((line) => Object.fromEntries(line.split(',').map((v, i) => [csv[0]!.split(',')[i]!, v])));
  return { out, result, rows, ids: rows.map((r) => r.inspection_id).sort() };
}

const ids = (...names: string[]) => names.map((n) => samples[n]!.id).sort();

describe('visor dataset pull', () => {
  it('returns exactly the samples matching each filter, chosen with index tags', async () => {
    const all = await pull({});
    expect(all.result).toMatchObject({ matched: 6, downloaded: 12, skipped: 0, failed: [], filter: 'tags' });
    expect(all.ids).toEqual(ids('aDefect1', 'aOk1', 'aUncertain2', 'aDefect3', 'bOk1', 'bDefect2'));
    expect((await pull({ camera: 'cam-a' })).ids).toEqual(ids('aDefect1', 'aOk1', 'aUncertain2', 'aDefect3'));
    expect((await pull({ label: 'defect' })).ids).toEqual(ids('aDefect1', 'aDefect3'));
    expect((await pull({ label: 'good', reviewedOnly: true })).ids).toEqual(ids('bDefect2'));
    expect((await pull({ modelVersion: '0.2.0' })).ids).toEqual(ids('aDefect3'));
    const window = { since: new Date(day1 + DAY), until: new Date(day1 + 2 * DAY) };
    expect((await pull(window)).ids).toEqual(ids('aUncertain2', 'bDefect2'));
    // Listing and filtering locally (a SAS without the "f" permission) gives the same set.
    expect((await pull(window, false)).ids).toEqual(ids('aUncertain2', 'bDefect2'));

    // labels.csv: file paths relative to the output folder, the current label, provenance.
    const row = all.rows.find((r) => r.inspection_id === samples.bDefect2!.id)!;
    expect(row).toMatchObject({ label: 'good', verdict: 'defect', reviewed: 'true', camera: 'cam-b', model: 'elpv-cells', model_version: '0.1.0' });
    expect(row.file).toBe(`line-1/cam-b/2025/05/02/${samples.bDefect2!.id}.jpg`);
    expect((await stat(path.join(all.out, row.file!))).size).toBeGreaterThan(1000);
    const records = (await readFile(path.join(all.out, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(6);
    expect(records.find((r) => r.inspectionId === samples.bDefect2!.id)).toMatchObject({ file: row.file, label: 'good', review: { decision: 'rejected', user: 'qa' }, inspection: { verdict: 'defect' } });
  });

  it('after an interruption, a second run downloads only what is missing', async () => {
    const out = path.join(dir, 'resumed');
    const target = containerFromArgument(azurite.connectionString, CONTAINER, { timeoutMs: 10_000 });
    const abort = new AbortController();
    const first = await pullDataset({ target, out, concurrency: 1, signal: abort.signal, onProgress: (done) => done === 2 && abort.abort() });
    expect(first.downloaded).toBe(4);
    const second = await pullDataset({ target, out });
    expect(second).toMatchObject({ matched: 6, downloaded: 8, skipped: 4, failed: [] });
    const third = await pullDataset({ target, out });
    expect(third).toMatchObject({ downloaded: 0, skipped: 12 });
  });

  it('as a command: resumes a damaged folder, re-fetching only the missing and the truncated files', async () => {
    const out = path.join(dir, 'cli');
    const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        const { stdout, stderr } = await exec(process.execPath, [...CLI, 'dataset', 'pull', '--out', out, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    // The connection string from the environment keeps the key out of the process list.
    const first = await run(['--container-name', CONTAINER], { VISOR_DATASET_CONTAINER: azurite.connectionString });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ matched: 6, downloaded: 12, skipped: 0, failed: 0 });

    const [, , rowA, rowB] = (await readFile(path.join(out, 'labels.csv'), 'utf8')).trim().split('\n');
    const imageA = path.join(out, rowA!.split(',')[0]!);
    await rm(imageA);
    await truncate(path.join(out, rowB!.split(',')[0]!.replace(/\.jpg$/, '.json')), 10);
    await writeFile(`${imageA}.part`, 'half a file');
    const second = await run(['--container', azurite.connectionString, '--container-name', CONTAINER]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ matched: 6, downloaded: 2, skipped: 10, failed: 0 });
    expect((await readFile(path.join(out, 'labels.csv'), 'utf8')).trim().split('\n')).toHaveLength(7);

    const wrongKey = Buffer.from('wrong key wrong key wrong key wrong key wrong key!!').toString('base64');
    const denied = await run(['--container', azurite.connectionString.replace(ACCOUNT_KEY, wrongKey), '--container-name', CONTAINER]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/refused the credentials \(403/);
    expect(denied.stderr + denied.stdout).not.toContain(wrongKey);
  });
});
