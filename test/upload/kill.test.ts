// The upload queue across a SIGKILL of `visor run`: what was queued when the process died
// is uploaded by the next run, once, and nothing selected is missing.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobBaseName } from '../../src/upload/index.js';
import { CLI, DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { startAzurite, type Azurite } from './azurite.js';
import { blobNames, until } from './helpers.js';

let azurite: Azurite;
let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-upload-kill-'));
  azurite = await startAzurite();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await azurite?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function query<T>(dbFile: string, sql: string): T[] {
  if (!existsSync(dbFile)) return [];
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } catch {
    return []; // tables not created yet
  } finally {
    db.close();
  }
}

function visorRun(config: string): ChildProcess {
  const child = spawn(process.execPath, [...CLI, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return child;
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('visor run killed with uploads queued', () => {
  it('uploads after the restart what was queued at the kill, with nothing duplicated or missing', async () => {
    const dataDir = path.join(dir, 'data');
    const dbFile = path.join(dataDir, 'visor.db');
    const config = path.join(dir, 'visor.json');
    await writeFile(
      config,
      JSON.stringify({
        cameras: [{ id: 'cells', source: FIXTURES, fps: 3, loop: false, thresholds: { defect: 1, uncertainBand: 0.15 } }],
        model: { package: DEMO_MODEL },
        store: { dataDir, okSampleFraction: 1 },
        review: { enabled: false },
        upload: { enabled: true, connectionString: azurite.connectionString, container: 'killed', okSampleFraction: 0, backoffInitialMs: 50, backoffMaxMs: 300 },
        log: { level: 'warn' },
      }),
    );

    await azurite.stop(); // uploads cannot drain: the queue holds them when the process dies
    const first = visorRun(config);
    await until('samples queued', () => query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM upload_queue')[0]?.n! >= 4, 40_000);
    first.kill('SIGKILL');
    await exited(first);
    const queuedAtKill = query<{ inspection_id: string }>(dbFile, 'SELECT inspection_id FROM upload_queue').map((r) => r.inspection_id);
    const inspectedFirst = query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM inspections')[0]!.n;
    expect(queuedAtKill.length).toBeGreaterThanOrEqual(4);

    await azurite.start();
    const second = visorRun(config);
    try {
      // The second run replays the 12 cells again and drains the queue, old and new.
      await until(
        'the second pass inspected and everything uploaded',
        () =>
          query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM inspections')[0]!.n === inspectedFirst + 12 &&
          query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM upload_queue')[0]!.n === 0,
        60_000,
      );
    } finally {
      second.kill('SIGTERM');
      await exited(second);
    }
    const selected = query<{ id: string; camera_id: string; captured_at: number; uploaded: number }>(
      dbFile,
      'SELECT i.id, i.camera_id, i.captured_at, d.uploaded_at IS NOT NULL AS uploaded FROM upload_decisions d JOIN inspections i ON i.id = d.inspection_id WHERE d.selected = 1',
    );
    expect(selected.map((s) => s.id)).toEqual(expect.arrayContaining(queuedAtKill));
    expect(selected.every((s) => s.uploaded === 1)).toBe(true);
    const expected = selected.flatMap((s) => ['.jpg', '.json'].map((ext) => `${blobBaseName('line-1', s.camera_id, s.captured_at, s.id)}${ext}`)).sort();
    expect(await blobNames(azurite.container('killed'))).toEqual(expected);
  });
});
