import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { buildShim } from './durable-fs.js';
import { storeConfig, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
/** Each folder fsync of the slow disk: ext4 makes one wait for a journal commit, seconds on a busy disk. */
const FOLDER_SYNC_MS = 800;

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir('visor-store-');
});
afterEach(async () => {
  await tmp.cleanup();
});

it("keeps storing a camera's frames while a slow disk makes its first image's new folder durable", async () => {
  // A camera's first kept frame of a day creates its folders, each synced into its parent. On
  // the main thread those syncs stopped the whole line (camera pipes, the model, every save)
  // for their duration: the start-up stall of the line benchmark.
  const library = await buildShim(tmp.dir, 'slow-dir-fsync');
  const data = path.join(tmp.dir, 'data');
  fs.mkdirSync(data);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(here, 'slow-disk-writer.ts'), data], {
    cwd: repoRoot,
    env: { ...process.env, LD_PRELOAD: library, SLOW_FSYNC_WATCH: fs.realpathSync(data), SLOW_FSYNC_MS: String(FOLDER_SYNC_MS), UV_USE_IO_URING: '0' },
  });
  const seen = JSON.parse(stdout) as { imagePath?: string; id: string; elapsedMs: number; longestGapMs: number; savedMeanwhile: number };
  // The disk was slow (two new folders synced into their parents, then the image's folder) …
  expect(seen.elapsedMs).toBeGreaterThanOrEqual(3 * FOLDER_SYNC_MS);
  // … and the other frames went on being stored all the while, none held up by a folder sync.
  expect(seen.savedMeanwhile).toBeGreaterThan(0);
  expect(seen.longestGapMs).toBeLessThan(FOLDER_SYNC_MS);
  // The image is stored, with its row.
  const store = openStore({ config: storeConfig(), dataDir: data, log: silentLogger() });
  try {
    expect(seen.imagePath).toBeDefined();
    expect(store.get(seen.id)?.imagePath).toBe(seen.imagePath);
    expect(fs.statSync(store.imageFile(seen.imagePath!)).size).toBeGreaterThan(0);
    expect(store.stats().inspections).toBe(seen.savedMeanwhile + 1);
  } finally {
    store.close();
  }
}, 30_000);
