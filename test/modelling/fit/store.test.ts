// `visor fit --from-store`: the images reviewers labelled in the store (the store's review module
// offers them) become labelled images; the verdict in force of an inspection wins, and
// inspections without a label or image are skipped.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp.js';
import { labelledFromReviews } from '../../../src/modelling/fit/index.js';
import { imageFromFile } from '../../../src/inference/index.js';
import { StoreError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/log.js';
import { encodeJpeg, openStore, readReviewedImages } from '../../../src/store/index.js';
import { FIXTURES } from '../../helpers/paths.js';
import { makeInspection, storeConfig } from '../../store/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-fit-store-'));
});
afterAll(() => cleanup());

describe('reviewed images for fitting', () => {
  it('labels reviewed inspections by the verdict in force', async () => {
    const dataDir = path.join(dir, 'data');
    const store = openStore({ config: storeConfig(), dataDir, log: silentLogger() });
    const image = await encodeJpeg(await imageFromFile(path.join(FIXTURES, 'cell0030.png')), 90);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(store.save(makeInspection({ frameSeq: i, capturedAt: Date.now() + i }), { image }).id);
    const noImage = store.save(makeInspection({ frameSeq: 9 })).id;
    const { reviews } = store;
    reviews.record({ ids: [ids[0]!, ids[1]!, ids[2]!], decision: 'confirmed', user: 'ann' });
    reviews.record({ ids: [ids[1]!], decision: 'rejected', user: 'bob' }); // a false positive, corrected later
    reviews.undo({ ids: [ids[2]!], user: 'ann' }); // undone: no label any more
    reviews.record({ ids: [ids[3]!], decision: 'relabeled', label: 'crack', user: 'ann' }); // a class name counts as a defect
    reviews.record({ ids: [noImage], decision: 'confirmed', user: 'ann' }); // ids[4] is never reviewed
    store.close();

    const { images, skipped } = readReviewedImages(dataDir);
    const labelled = labelledFromReviews(images);
    expect(labelled.map((i) => i.label)).toEqual(['defect', 'good', 'defect']);
    expect(skipped).toBe(2);
    for (const img of labelled) expect((await stat(img.file)).isFile()).toBe(true);
  });

  it('says so when the store has no database', () => {
    const dataDir = path.join(dir, 'nothing-here');
    expect(() => readReviewedImages(dataDir)).toThrow(StoreError);
    expect(() => readReviewedImages(dataDir)).toThrow(/cannot open the store .*visor\.db/);
  });
});
