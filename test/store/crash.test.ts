import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { storeConfig, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  tmp.cleanup();
});

it('keeps every inspection whose save() returned when the process is SIGKILLed mid-write', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'crash-writer.ts'), tmp.dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
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
      buffered = lines.pop()!;
      printed.push(...lines.filter((l) => l !== 'ready'));
      // Kill while it is writing, at an arbitrary point inside a save.
      if (printed.length >= 60) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  const { signal } = await exited;
  expect(signal).toBe('SIGKILL');
  // A line cut off by the kill is not a returned save; ignore it.

  const raw = new Database(path.join(tmp.dir, 'visor.db'));
  expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  raw.close();

  const store = openStore({ config: storeConfig(), dataDir: tmp.dir, log: silentLogger() });
  try {
    expect(printed.length).toBeGreaterThanOrEqual(60);
    for (const id of printed) {
      const inspection = store.get(id);
      expect(inspection, id).toBeDefined();
      // The image went to disk before the row, so a stored row never points at a missing file.
      expect(fs.statSync(store.imageFile(inspection!.imagePath!)).size).toBeGreaterThan(0);
    }
    for (const inspection of store.list({ limit: 500 })) {
      expect(fs.existsSync(store.imageFile(inspection.imagePath!))).toBe(true);
    }
  } finally {
    store.close();
  }
}, 30_000);
