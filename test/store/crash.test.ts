import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { afterPowerLoss, buildDurableFs, durableFsEnv } from './durable-fs.js';
import { storeConfig, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir('visor-store-');
});
afterEach(async () => {
  await tmp.cleanup();
});

/** Runs crash-writer.ts on `dataDir` and SIGKILLs it while it saves; returns the ids whose save() had returned. */
async function killWriterMidWrite(dataDir: string, env: NodeJS.ProcessEnv = {}, saves = 60, mode: 'save' | 'saveAsync' = 'save'): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'crash-writer.ts'), dataDir, mode], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let buffered = '';
  const printed: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  await new Promise<void>((resolve, reject) => {
    child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      // A line cut off by the kill is not a returned save; it stays in `buffered`.
      buffered = lines.pop()!;
      printed.push(...lines.filter((l) => l !== 'ready'));
      // Kill while it is writing, at an arbitrary point inside a save.
      if (printed.length >= saves) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  const { signal } = await exited;
  expect(signal).toBe('SIGKILL');
  expect(printed.length).toBeGreaterThanOrEqual(saves);
  return printed;
}

/** Opens the store in `dataDir` and checks it holds every id in `saved`, each with its image. */
function expectSaved(dataDir: string, saved: string[]): void {
  const raw = new Database(path.join(dataDir, 'visor.db'));
  expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  raw.close();

  const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
  try {
    const missing = saved.filter((id) => !store.get(id));
    expect(missing, `${missing.length} of ${saved.length} returned saves missing`).toEqual([]);
    for (const id of saved) {
      // The image went to disk before the row, so a stored row never points at a missing file.
      expect(fs.statSync(store.imageFile(store.get(id)!.imagePath!)).size, id).toBeGreaterThan(0);
    }
    for (const inspection of store.list({ limit: 500 })) {
      expect(fs.existsSync(store.imageFile(inspection.imagePath!))).toBe(true);
    }
  } finally {
    store.close();
  }
}

it('keeps every inspection whose save() returned when the process is SIGKILLed mid-write', async () => {
  expectSaved(tmp.dir, await killWriterMidWrite(tmp.dir));
}, 30_000);

/** Runs the writer on a recorded file system, kills it, and checks what only the syncs kept. */
async function expectSavedThroughPowerLoss(mode: 'save' | 'saveAsync'): Promise<void> {
  const data = path.join(tmp.dir, 'data');
  const shadow = path.join(tmp.dir, 'shadow');
  const after = path.join(tmp.dir, 'after');
  fs.mkdirSync(data);
  const library = await buildDurableFs(tmp.dir);
  const saved = await killWriterMidWrite(data, durableFsEnv(library, data, shadow), 60, mode);
  afterPowerLoss(data, shadow, after);
  expectSaved(after, saved);
}

it('keeps every inspection whose save() returned through a power loss: each commit is synced before save() returns', async () => {
  // SIGKILL keeps the page cache, so the test above would pass without a single fsync. Here the
  // writer runs on a recorded file system and the store reopens what only the syncs kept.
  await expectSavedThroughPowerLoss('save');
}, 30_000);

it('keeps every inspection whose saveAsync() resolved through a power loss, with its image: files are synced off the main thread before the row commits', async () => {
  await expectSavedThroughPowerLoss('saveAsync');
}, 30_000);
