import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { ImagePathError, openStore, type Store } from '../../src/store/index.js';
import { encodeJpeg } from '../../src/store/images.js';
import { applyMigrations, migrations } from '../../src/store/migrations.js';
import type { Inspection } from '../../src/common/types.js';
import { makeInspection, noiseJpeg, storeConfig, tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let store: Store | undefined;

beforeEach(async () => {
  tmp = await tempDir('visor-store-');
});
afterEach(async () => {
  store?.close();
  store = undefined;
  await tmp.cleanup();
});

function open(overrides: Parameters<typeof storeConfig>[0] = {}): Store {
  store = openStore({ config: storeConfig(overrides), dataDir: tmp.dir, log: silentLogger() });
  return store;
}

describe('inspections', () => {
  it('round-trips every field, with and without the optional ones', () => {
    const s = open();
    const full = makeInspection();
    const saved = s.save(full);
    expect(saved.timings.storeMs).toBeGreaterThanOrEqual(0);
    expect(saved).toEqual({ ...full, timings: { ...full.timings, storeMs: saved.timings.storeMs } });
    expect(s.get(full.id)).toEqual(saved);

    const minimal: Inspection = {
      id: 'minimal-1',
      cameraId: 'cam-2',
      frameSeq: 0,
      capturedAt: 1_700_000_000_000,
      inferredAt: 1_700_000_000_010,
      decidedAt: 1_700_000_000_011,
      verdict: 'ok',
      score: 0,
      model: { name: 'm', version: '0', task: 'classification' },
      thresholds: { defect: 0.5, uncertainBand: 0 },
      timings: { queueMs: 0, preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
    };
    s.save(minimal);
    const back = s.get('minimal-1')!;
    expect(Object.keys(back).sort()).toEqual(Object.keys(minimal).sort());
    expect(back).toEqual({ ...minimal, timings: { ...minimal.timings, storeMs: back.timings.storeMs } });
    expect(s.get('no-such-id')).toBeUndefined();
  });

  it('survives closing and reopening', () => {
    const s = open();
    const saved = s.save(makeInspection());
    s.close();
    const again = open();
    expect(again.get(saved.id)).toEqual(saved);
  });

  it('lists newest first with cursor paging and filters; counts by verdict', () => {
    const s = open();
    const t0 = Date.UTC(2024, 4, 1);
    const verdicts = ['ok', 'defect', 'uncertain', 'ok', 'defect', 'ok', 'ok', 'defect', 'ok', 'ok'] as const;
    const saved = verdicts.map((verdict, i) =>
      s.save(makeInspection({ capturedAt: t0 + i * 1000, verdict, cameraId: i % 2 === 0 ? 'cam-a' : 'cam-b', frameSeq: i })),
    );
    const newestFirst = [...saved].reverse().map((i) => i.id);

    expect(s.list().map((i) => i.id)).toEqual(newestFirst);
    const page1 = s.list({ limit: 4 });
    const page2 = s.list({ limit: 4, before: page1.at(-1)!.id });
    const page3 = s.list({ limit: 4, before: page2.at(-1)!.id });
    expect([...page1, ...page2, ...page3].map((i) => i.id)).toEqual(newestFirst);
    expect(page3).toHaveLength(2);

    const camB = s.list({ cameraId: 'cam-b' });
    expect(camB.map((i) => i.frameSeq)).toEqual([9, 7, 5, 3, 1]);
    expect(s.list({ verdict: 'defect' }).map((i) => i.frameSeq)).toEqual([7, 4, 1]);
    expect(s.list({ verdict: 'defect', cameraId: 'cam-b', limit: 1 }).map((i) => i.frameSeq)).toEqual([7]);
    expect(s.list({ verdict: 'ok', cameraId: 'cam-a', before: saved[6]!.id }).map((i) => i.frameSeq)).toEqual([0]);

    expect(s.countByVerdict()).toEqual({ ok: 6, defect: 3, uncertain: 1 });
    expect(s.stats().inspections).toBe(10);
  });

  it('caps list at 500 and counts every verdict even when absent', () => {
    const s = open();
    expect(s.countByVerdict()).toEqual({ ok: 0, uncertain: 0, defect: 0 });
    const insert = s.db.transaction(() => {
      for (let i = 0; i < 520; i++) s.save(makeInspection({ id: `bulk-${String(i).padStart(4, '0')}`, verdict: 'ok' }));
    });
    insert();
    expect(s.list({ limit: 10_000 })).toHaveLength(500);
    expect(s.list({ limit: 0 })).toHaveLength(1);
    expect(s.list()).toHaveLength(50);
  });

  it('refuses a second inspection with the same id, and ids that are not safe file names', () => {
    const s = open();
    const first = makeInspection();
    s.save(first);
    expect(() => s.save({ ...first, score: 0.1 })).toThrow(StoreError);
    expect(s.get(first.id)!.score).toBe(first.score);
    expect(() => s.save(makeInspection({ id: '../escape' }))).toThrow(StoreError);
    expect(() => s.save(makeInspection({ cameraId: '../../etc' }))).toThrow(StoreError);
  });
});

describe('images', () => {
  it('writes JPEG files beside the row and serves them by relative path', async () => {
    const s = open();
    const image = await noiseJpeg(64, 48, 1);
    const overlay = await noiseJpeg(64, 48, 2);
    const capturedAt = Date.UTC(2024, 0, 2, 23, 59);
    const saved = s.save(makeInspection({ capturedAt, cameraId: 'line-3' }), { image, overlay });

    expect(saved.imagePath).toBe(`images/line-3/2024-01-02/${saved.id}.jpg`);
    expect(saved.overlayPath).toBe(`images/line-3/2024-01-02/${saved.id}.overlay.jpg`);
    expect(s.get(saved.id)).toEqual(saved);

    const file = s.imageFile(saved.imagePath!);
    expect(file).toBe(path.join(tmp.dir, 'images', 'line-3', '2024-01-02', `${saved.id}.jpg`));
    expect(fs.readFileSync(file).equals(image)).toBe(true);
    const meta = await sharp(file).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 64, height: 48 });
    expect((await sharp(s.imageFile(saved.overlayPath!)).metadata()).format).toBe('jpeg');
    expect(s.stats().imageBytes).toBe(image.length + overlay.length);
    // No temporary files left behind.
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual([`${saved.id}.jpg`, `${saved.id}.overlay.jpg`]);
  });

  it('saveAsync writes the same files and row as save, refuses a second save of an id whose images are still being written, and stores a row without a bad image', async () => {
    const s = open();
    const image = await noiseJpeg(64, 48, 1);
    const overlay = await noiseJpeg(64, 48, 2);
    const first = makeInspection({ capturedAt: Date.UTC(2024, 0, 2, 12), cameraId: 'line-3' });
    const pending = s.saveAsync(first, { image, overlay });
    // Still writing: neither a second saveAsync nor save may take the id (they would overwrite its files).
    await expect(s.saveAsync({ ...first, score: 0.1 }, { image: overlay })).rejects.toThrow(/already stored/);
    expect(() => s.save({ ...first, score: 0.1 }, { image: overlay })).toThrow(/already stored/);
    const saved = await pending;
    expect(saved.imagePath).toBe(`images/line-3/2024-01-02/${saved.id}.jpg`);
    expect(s.get(saved.id)).toEqual(saved);
    expect(fs.readFileSync(s.imageFile(saved.imagePath!)).equals(image)).toBe(true);
    expect(fs.readFileSync(s.imageFile(saved.overlayPath!)).equals(overlay)).toBe(true);
    expect(fs.readdirSync(path.join(tmp.dir, 'images', 'line-3', '2024-01-02')).sort()).toEqual([`${saved.id}.jpg`, `${saved.id}.overlay.jpg`]);

    const { imageShed: _shed, ...unshed } = makeInspection({ cameraId: 'line-3' });
    const bad = await s.saveAsync(unshed, { image: Buffer.from('not a jpeg') });
    expect(bad.imagePath).toBeUndefined();
    expect(bad.imageShed).toMatch(/image write failed: .*not a JPEG/);
    expect(s.stats().imageWriteErrors).toBe(1);
  });

  it('rejects path traversal and paths no inspection refers to', async () => {
    const s = open();
    const saved = s.save(makeInspection({ capturedAt: Date.UTC(2024, 0, 2) }), { image: await noiseJpeg() });
    const bad = [
      '../visor.db',
      'visor.db',
      'images/../visor.db',
      'images/cam-1/../../visor.db',
      `images/cam-1/2024-01-02/../../../visor.db`,
      path.join(tmp.dir, 'visor.db'),
      '/etc/passwd',
      'images/cam-1/2024-01-02/..%2F..%2Fvisor.db',
      `images\\cam-1\\2024-01-02\\${saved.id}.jpg`,
      '',
    ];
    for (const rel of bad) {
      expect(() => s.imageFile(rel), rel).toThrow(ImagePathError);
    }
    // Well-formed, but not stored: an overlay that was never written, another id, another day.
    for (const rel of [saved.imagePath!.replace('.jpg', '.overlay.jpg'), saved.imagePath!.replace(saved.id, 'other-id'), saved.imagePath!.replace('2024-01-02', '2024-01-03')]) {
      const err = (() => {
        try {
          s.imageFile(rel);
        } catch (e) {
          return e;
        }
      })();
      expect(err, rel).toBeInstanceOf(ImagePathError);
      expect((err as ImagePathError).reason).toBe('unknown');
    }
    expect(fs.existsSync(s.imageFile(saved.imagePath!))).toBe(true);
  });

  it('encodes gray and rgb raw images as JPEG', async () => {
    const gray = await encodeJpeg({ width: 20, height: 10, pixelFormat: 'gray', data: Buffer.alloc(200, 128) }, 75);
    expect(await sharp(gray).metadata()).toMatchObject({ format: 'jpeg', width: 20, height: 10, channels: 1 });
    const rgb = await encodeJpeg({ width: 8, height: 8, pixelFormat: 'rgb24', data: Buffer.alloc(8 * 8 * 3, 200) }, 90);
    expect(await sharp(rgb).metadata()).toMatchObject({ format: 'jpeg', width: 8, height: 8, channels: 3 });
    await expect(encodeJpeg({ width: 8, height: 8, pixelFormat: 'rgb24', data: Buffer.alloc(10) }, 90)).rejects.toThrow(StoreError);
  });
});

describe('database and migrations', () => {
  it('uses WAL with synchronous=FULL and foreign keys', () => {
    const s = open();
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(tmp.dir, 'visor.db'))).toBe(true);
  });

  it('records the schema version and applies migrations once', () => {
    const s = open();
    const saved = s.save(makeInspection());
    const latest = Math.max(...migrations.map((m) => m.version));
    expect(s.db.pragma('user_version', { simple: true })).toBe(latest);
    const recorded = s.db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(recorded).toEqual([...migrations].sort((a, b) => a.version - b.version).map((m) => ({ version: m.version, name: m.name })));
    s.close();

    const again = open();
    expect(again.db.pragma('user_version', { simple: true })).toBe(latest);
    expect(again.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toEqual({ n: migrations.length });
    expect(again.get(saved.id)).toEqual(saved);
  });

  it('refuses a database written by a newer schema', () => {
    open().close();
    store = undefined;
    const raw = new Database(path.join(tmp.dir, 'visor.db'));
    raw.pragma(`user_version = ${Math.max(...migrations.map((m) => m.version)) + 1}`);
    raw.close();
    expect(() => open()).toThrow(/newer/);
  });
});

describe('migrations from several modules', () => {
  it('applies pending migrations in version order, each once, whatever order the list is in', () => {
    const db = new Database(':memory:');
    const list = [
      { version: 200, name: 'b', up: 'CREATE TABLE b (x INTEGER)' },
      { version: 1, name: 'a', up: 'CREATE TABLE a (x INTEGER)' },
    ];
    expect(applyMigrations(db, list, silentLogger()).applied).toEqual([1, 200]);
    // A module's migration with a lower version than one already applied still runs.
    const later = [...list, { version: 100, name: 'c', up: 'CREATE TABLE c (x INTEGER REFERENCES a (x))' }];
    expect(applyMigrations(db, later, silentLogger())).toEqual({ from: 200, to: 200, applied: [100] });
    expect(applyMigrations(db, later, silentLogger()).applied).toEqual([]);
    expect(() => applyMigrations(db, list, silentLogger())).toThrow(/newer than this Visor understands/);
    expect(() => applyMigrations(new Database(':memory:'), [...list, { version: 1, name: 'dup', up: '' }], silentLogger())).toThrow(/share version 1/);
  });
});

describe('save hooks', () => {
  it('commit with the inspection, and a failing hook rolls the inspection back', () => {
    const s = open();
    s.db.exec('CREATE TABLE side (inspection_id TEXT)');
    const remove = s.onSave((i, db) => {
      db.prepare('INSERT INTO side VALUES (?)').run(i.id);
      if (i.verdict === 'defect') throw new Error('hook refused');
    });
    const ok = s.save(makeInspection({ verdict: 'ok' }));
    const defect = makeInspection({ verdict: 'defect' });
    expect(() => s.save(defect)).toThrow(StoreError);
    expect(s.get(defect.id)).toBeUndefined();
    expect(s.db.prepare('SELECT inspection_id FROM side').pluck().all()).toEqual([ok.id]);
    remove();
    s.save(defect);
    expect(s.get(defect.id)?.verdict).toBe('defect');
  });
});
