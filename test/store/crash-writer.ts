// Child process for crash.test.ts: saves inspections (with images) in a loop and prints each
// id once save() has returned (or saveAsync() resolved), until it is killed.
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { makeInspection, noiseJpeg, storeConfig } from './helpers.js';

const dataDir = process.argv[2];
// `save` (synchronous, one at a time) or `saveAsync` (four in flight, as several cameras' kept frames are).
const mode = process.argv[3] ?? 'save';
if (dataDir === undefined || (mode !== 'save' && mode !== 'saveAsync')) throw new Error('usage: crash-writer.ts <dataDir> [save|saveAsync]');
const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
const image = await noiseJpeg(32, 32);
process.stdout.write('ready\n');
const inspection = (seq: number) => makeInspection({ frameSeq: seq, verdict: seq % 3 === 0 ? 'ok' : 'defect' });
if (mode === 'save') {
  for (let seq = 0; ; seq++) {
    const saved = store.save(inspection(seq), { image });
    // Pipes are written synchronously on Linux, so the line is out before the next save starts.
    process.stdout.write(`${saved.id}\n`);
  }
} else {
  let seq = 0;
  const writer = async (): Promise<never> => {
    for (;;) {
      const saved = await store.saveAsync(inspection(seq++), { image });
      process.stdout.write(`${saved.id}\n`);
    }
  };
  await Promise.all([writer(), writer(), writer(), writer()]);
}
