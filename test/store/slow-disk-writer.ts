// Child process for slow-disk.test.ts, run on a disk whose folder fsyncs are slow
// (slow-dir-fsync.c): saves one inspection with its image into a new folder with saveAsync,
// as the line does with a camera's first kept frame of a day, and meanwhile stores an
// inspection without an image every 10 ms, as the line does with a camera's other frames.
// Prints what it saw as one JSON line.
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { makeInspection, noiseJpeg, storeConfig } from './helpers.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: slow-disk-writer.ts <dataDir>');
const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
const image = await noiseJpeg(32, 32);

let seq = 0;
let done = false;
const t0 = performance.now();
let last = t0;
let longestGapMs = 0;
let savedMeanwhile = 0;
const kept = store.saveAsync(makeInspection({ frameSeq: seq++, verdict: 'defect' }), { image }).finally(() => (done = true));
await new Promise<void>((resolve) => {
  const tick = (): void => {
    const t = performance.now();
    longestGapMs = Math.max(longestGapMs, t - last);
    last = t;
    if (done) return resolve();
    store.save(makeInspection({ frameSeq: seq++, verdict: 'ok' }));
    savedMeanwhile++;
    setTimeout(tick, 10);
  };
  setTimeout(tick, 10);
});
const stored = await kept;
process.stdout.write(`${JSON.stringify({ imagePath: stored.imagePath, id: stored.id, elapsedMs: performance.now() - t0, longestGapMs, savedMeanwhile })}\n`);
store.close();
