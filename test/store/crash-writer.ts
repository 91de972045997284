// Child process for crash.test.ts: saves inspections (with images) in a loop and prints each
// id once save() has returned, until it is killed.
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { makeInspection, noiseJpeg, storeConfig } from './helpers.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: crash-writer.ts <dataDir>');
const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
const image = await noiseJpeg(32, 32);
process.stdout.write('ready\n');
for (let seq = 0; ; seq++) {
  const saved = store.save(makeInspection({ frameSeq: seq, verdict: seq % 3 === 0 ? 'ok' : 'defect' }), { image });
  // Pipes are written synchronously on Linux, so the line is out before the next save starts.
  process.stdout.write(`${saved.id}\n`);
}
