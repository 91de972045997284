// `visor fit --from-store`: reviewers' verdicts in the store become labelled images; the latest
// review of an inspection wins, and inspections without a label or image are skipped.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FitInputError, readStoreLabels } from '../../../src/modelling/fit/index.js';
import { imageFromFile } from '../../../src/inference/index.js';
import { silentLogger } from '../../../src/common/log.js';
import { encodeJpeg, openStore } from '../../../src/store/index.js';
import { FIXTURES } from '../../helpers/paths.js';
import { makeInspection, storeConfig } from '../../store/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-fit-store-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readStoreLabels', () => {
  it('labels reviewed inspections by their latest verdict', async () => {
    const dataDir = path.join(dir, 'data');
    const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
    const image = await encodeJpeg(await imageFromFile(path.join(FIXTURES, 'cell0030.png')), 90);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(store.save(makeInspection({ frameSeq: i, capturedAt: Date.now() + i }), { image }).id);
    const noImage = store.save(makeInspection({ frameSeq: 9 })).id;
    store.close();

    const db = new Database(path.join(dataDir, 'visor.db'));
    const review = db.prepare('INSERT INTO reviews (inspection_id, decision, label, user, created_at) VALUES (?, ?, ?, ?, ?)');
    review.run(ids[0], 'confirmed', 'defect', 'ann', 1);
    review.run(ids[1], 'confirmed', 'defect', 'ann', 1);
    review.run(ids[1], 'rejected', 'good', 'bob', 2); // a false positive, corrected later
    review.run(ids[2], 'confirmed', 'defect', 'ann', 1);
    review.run(ids[2], 'undone', null, 'ann', 2); // undone: no label any more
    review.run(ids[3], 'relabeled', 'crack', 'ann', 1); // a class name counts as a defect
    review.run(noImage, 'confirmed', 'defect', 'ann', 1); // ids[4] is never reviewed
    db.close();

    const config = path.join(dir, 'visor.yaml');
    await writeFile(config, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\nstore:\n  dataDir: data\n`);
    const { images, skipped } = readStoreLabels(config);
    expect(images.map((i) => i.label)).toEqual(['defect', 'good', 'defect']);
    expect(skipped).toBe(2);
    for (const img of images) expect((await stat(img.file)).isFile()).toBe(true);
  });

  it('says so when the store has no database', async () => {
    const config = path.join(dir, 'empty.yaml');
    await writeFile(config, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\nstore:\n  dataDir: nothing-here\n`);
    expect(() => readStoreLabels(config)).toThrow(FitInputError);
    expect(() => readStoreLabels(config)).toThrow(/cannot open the store .*visor\.db/);
  });
});
