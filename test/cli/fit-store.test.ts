// `visor fit --from-store --config FILE` as a user runs it: the CLI finds the store the config
// names (relative to the config file), the store gives the reviewed images, fit gets them.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';
import { silentLogger } from '../../src/common/log.js';
import { openStore } from '../../src/store/index.js';
import { CLI, FIXTURES } from '../helpers/paths.js';
import { makeInspection, noiseJpeg, storeConfig } from '../store/helpers.js';

const exec = promisify(execFile);

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-cli-fit-store-'));
});
afterAll(() => cleanup());

describe('visor fit --from-store', () => {
  it("reads the reviewed images of the config's store and says how many it used", async () => {
    const store = openStore({ config: storeConfig(), dataDir: path.join(dir, 'line', 'data'), log: silentLogger() });
    const image = await noiseJpeg();
    const a = store.save(makeInspection({ frameSeq: 1 }), { image });
    const b = store.save(makeInspection({ frameSeq: 2, capturedAt: a.capturedAt + 1 }), { image });
    const c = store.save(makeInspection({ frameSeq: 3, capturedAt: a.capturedAt + 2 }), { image });
    store.reviews.record({ ids: [a.id], decision: 'rejected', user: 'ann' });
    store.reviews.record({ ids: [b.id], decision: 'needs-expert', user: 'ann' });
    store.reviews.record({ ids: [c.id], decision: 'confirmed', user: 'ann' });
    store.close();
    const config = path.join(dir, 'line', 'visor.yaml');
    await writeFile(config, `cameras:\n  - id: cam-1\n    source: ${FIXTURES}\nstore:\n  dataDir: data\n`);
    const good = path.join(dir, 'no-good-images');
    await mkdir(good);

    // The empty good folder stops the fit after the store was read: enough to see what it read.
    const failed = await exec(process.execPath, [...CLI, 'fit', '--good', good, '--out', path.join(dir, 'out'), '--from-store', '--config', config], { timeout: 60_000 }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed).toMatchObject({ code: 2 });
    const { stderr } = failed as { stderr: string };
    expect(stderr).toContain('store: 2 reviewed inspection(s) used, 1 skipped');
    expect(stderr).toContain('holds no images');
  });
});
