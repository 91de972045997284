// Upload throughput to Azurite (images/s, each image = JPEG + JSON sidecar with tags) and
// `dataset pull` throughput for 1,000 images. Run: npx tsx bench/upload.ts [count]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { containerFromArgument } from '../src/upload/blob.js';
import { pullDataset } from '../src/upload/pull.js';
import { startAzurite } from '../test/upload/azurite.js';
import { fixtureJpeg, startTestLine, until } from '../test/upload/helpers.js';

const count = Number(process.argv[2] ?? 1000);
const dir = await mkdtemp(path.join(os.tmpdir(), 'visor-bench-upload-'));
const azurite = await startAzurite();
try {
  const image = await fixtureJpeg('cell0020.png');
  for (const concurrency of [4, 16]) {
    const container = `bench-c${concurrency}`;
    const line = await startTestLine({ upload: { connectionString: azurite.connectionString, container, concurrency, maxPerHourPerCamera: 1_000_000 } }, path.join(dir, container));
    // Warm-up: the container and the connection.
    line.save('defect');
    await until('warm-up', () => line.upload.status().uploaded === 1);
    const started = performance.now();
    for (let i = 0; i < count; i++) line.save('defect', { capturedAt: Date.now() + i, image });
    await until('the queue to drain', () => line.upload.status().queueDepth === 0, 600_000);
    if (line.upload.status().uploaded !== count + 1) throw new Error(`uploaded ${line.upload.status().uploaded - 1} of ${count}`);
    const seconds = (performance.now() - started) / 1000;
    console.log(`upload: ${count} images (${image.length} B JPEG + sidecar, with tags and metadata), concurrency ${concurrency}: ${(count / seconds).toFixed(1)} images/s (${seconds.toFixed(1)} s)`);
    await line.close();
  }

  const target = containerFromArgument(azurite.connectionString, 'bench-c16', { timeoutMs: 60_000 });
  const out = path.join(dir, 'pulled');
  const first = await pullDataset({ target, out, concurrency: 8 });
  console.log(`dataset pull: ${first.matched} images + sidecars, ${(first.bytes / 1e6).toFixed(1)} MB, concurrency 8: ${(first.matched / first.seconds).toFixed(1)} images/s (${first.seconds.toFixed(1)} s)`);
  const again = await pullDataset({ target, out, concurrency: 8 });
  console.log(`dataset pull again (all complete, etag checks only): ${again.skipped} files skipped in ${again.seconds.toFixed(1)} s`);
} finally {
  await azurite.dispose();
  await rm(dir, { recursive: true, force: true });
}
