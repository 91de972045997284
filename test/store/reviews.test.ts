// The current label of an inspection: one answer, whoever asks (the queue, uploads, model building, live tabs).
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { NotFoundError } from '../../src/common/errors.js';
import { openStore, readReviewedImages, type Store } from '../../src/store/index.js';
import { createReviewQueue } from '../../src/review/queue.js';
import { applyMigrations, migrations } from '../../src/store/migrations.js';
import { toRow } from '../../src/store/rows.js';
import { makeInspection, noiseJpeg, storeConfig, tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let store: Store;
beforeEach(async () => {
  tmp = await tempDir('visor-reviews-');
  store = openStore({ config: storeConfig(), dataDir: path.join(tmp.dir, 'data'), log: silentLogger() });
});
afterEach(async () => {
  store.close();
  await tmp.cleanup();
});

describe('the current label', () => {
  it('undoing back to "needs expert" is needs expert everywhere: queue, upload label and the announced review', () => {
    const queue = createReviewQueue({ store });
    const inspection = store.save(makeInspection({ verdict: 'defect' }));
    queue.record({ ids: [inspection.id], decision: 'needs-expert', user: 'ann' });
    const expertLabel = store.reviews.currentLabel(inspection);
    queue.record({ ids: [inspection.id], decision: 'confirmed', user: 'bob' });
    const [undone] = queue.undo({ ids: [inspection.id], user: 'bob' });

    expect(queue.get(inspection.id)!.review).toMatchObject({ decision: 'needs-expert', user: 'ann' });
    expect(store.reviews.currentLabel(inspection)).toEqual(expertLabel);
    expect(store.reviews.currentLabel(inspection)).toMatchObject({ label: 'uncertain', reviewed: false, review: { decision: 'needs-expert' } });
    // What other tabs and the upload hear: the review now in force, not "unreviewed".
    expect(undone).toMatchObject({ decision: 'undone', current: { decision: 'needs-expert', user: 'ann' } });
  });

  it('model building sees the same verdict in force as the queue', async () => {
    const image = await noiseJpeg();
    const a = store.save(makeInspection({ verdict: 'defect', frameSeq: 1 }), { image });
    const b = store.save(makeInspection({ verdict: 'defect', frameSeq: 2, capturedAt: a.capturedAt + 1 }), { image });
    store.reviews.record({ ids: [a.id, b.id], decision: 'rejected', user: 'ann' });
    store.reviews.record({ ids: [a.id], decision: 'needs-expert', user: 'bob' });
    store.reviews.record({ ids: [b.id], decision: 'confirmed', user: 'bob' });
    store.reviews.undo({ ids: [b.id], user: 'bob' }); // back to rejected: good
    expect(readReviewedImages(store.dataDir).images.map((i) => i.label)).toEqual([store.reviews.current(b.id)!.label]);
    expect(store.reviews.currentLabel(b)).toMatchObject({ label: 'good', reviewed: true });
    expect(store.reviews.currentLabel(a)).toMatchObject({ label: 'uncertain', reviewed: false });
  });

  it('refuses a verdict on an unknown inspection with a not-found error, storing nothing', () => {
    const known = store.save(makeInspection()).id;
    const unknown = '00000000-0000-7000-8000-000000000000';
    expect(() => store.reviews.record({ ids: [known, unknown], decision: 'confirmed', user: 'ann' })).toThrow(NotFoundError);
    expect(() => store.reviews.record({ ids: [known, unknown], decision: 'confirmed', user: 'ann' })).toThrow(unknown);
    expect(store.reviews.history(known)).toEqual([]);
  });

  it('keeps the note of the verdict in force across the migration that adds it to review_state', () => {
    const db = new Database(path.join(tmp.dir, 'old.db'));
    try {
      applyMigrations(db, migrations.filter((m) => m.version <= 303), silentLogger());
      const i = makeInspection();
      const row = toRow(i, 0);
      db.prepare(`INSERT INTO inspections (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row).map((k) => `@${k}`).join(', ')})`).run(row);
      const review = db.prepare('INSERT INTO reviews (inspection_id, decision, label, user, created_at, note) VALUES (?, ?, ?, ?, ?, ?)');
      review.run(i.id, 'rejected', 'good', 'ann', 1, 'glare');
      review.run(i.id, 'confirmed', 'defect', 'bob', 2, 'crack at the busbar');
      db.prepare('INSERT INTO review_state (inspection_id, decision, label, user, at) VALUES (?, ?, ?, ?, ?)').run(i.id, 'confirmed', 'defect', 'bob', 2);
      applyMigrations(db, migrations, silentLogger());
      expect(db.prepare('SELECT note FROM review_state WHERE inspection_id = ?').pluck().get(i.id)).toBe('crack at the busbar');
    } finally {
      db.close();
    }
  });
});
