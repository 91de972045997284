import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoreConfig } from '../../src/config/schema.js';
import { newId } from '../../src/common/ids.js';
import { silentLogger, type Logger } from '../../src/common/log.js';
import { DB_FILE, openStore, type Store } from '../../src/store/index.js';
import { until } from '../helpers/wait.js';
import { capturingLogger } from '../upload/helpers.js';
import { DAY_MS, fillStore, makeInspection, noiseJpeg, storeConfig, tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let store: Store | undefined;
let clock: number;

beforeEach(async () => {
  tmp = await tempDir('visor-store-');
  clock = Date.UTC(2024, 5, 30, 12);
});
afterEach(async () => {
  vi.useRealTimers();
  await store?.close();
  store = undefined;
  await tmp.cleanup();
});

function open(overrides: Partial<StoreConfig> = {}, now?: () => number, log: Logger = silentLogger()): Store {
  void store?.close();
  store = openStore({ config: storeConfig(overrides), dataDir: tmp.dir, log, ...(now ? { now } : {}) });
  return store;
}

const abs = (rel: string): string => path.join(tmp.dir, ...rel.split('/'));
const MB = 1024 * 1024;

describe('retention by age', () => {
  it('deletes rows and files older than retentionDays, on demand, at open and on its timer', async () => {
    const s = open({ retentionDays: 7 }, () => clock);
    const image = await noiseJpeg();
    const overlay = await noiseJpeg(48, 48, 2);
    const old = [10, 9, 8].map((days) => s.save(makeInspection({ capturedAt: clock - days * DAY_MS }), { image, overlay }));
    const middle = s.save(makeInspection({ capturedAt: clock - 5 * DAY_MS }), { image });
    const fresh = s.save(makeInspection({ capturedAt: clock - DAY_MS, verdict: 'ok' }));

    const result = await s.runRetention();
    expect(result).toEqual({ deletedInspections: 3, deletedImages: 6, freedBytes: 3 * (image.length + overlay.length), orphansRemoved: 0 });
    for (const i of old) {
      expect(s.get(i.id)).toBeUndefined();
      expect(fs.existsSync(abs(i.imagePath!))).toBe(false);
      expect(fs.existsSync(abs(i.overlayPath!))).toBe(false);
      // Emptied day folders go too.
      expect(fs.existsSync(path.dirname(abs(i.imagePath!)))).toBe(false);
    }
    expect(s.get(middle.id)).toEqual(middle);
    expect(fs.existsSync(abs(middle.imagePath!))).toBe(true);
    expect(s.get(fresh.id)).toEqual(fresh);
    expect(s.stats()).toMatchObject({ inspections: 2, imageBytes: image.length });

    // Three days later, reopening removes `middle` (5 + 3 > 7) before anything else happens.
    clock += 3 * DAY_MS;
    const reopened = open({ retentionDays: 7 }, () => clock);
    await reopened.retentionIdle();
    expect(reopened.get(middle.id)).toBeUndefined();
    expect(fs.existsSync(abs(middle.imagePath!))).toBe(false);
    expect(reopened.stats().retention.deletedInspections).toBe(1);

    // And the timer catches `fresh` once it is old enough.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const timed = open({ retentionDays: 7, retentionIntervalSeconds: 60 }, () => clock);
    clock += 7 * DAY_MS;
    expect(timed.get(fresh.id)).toEqual(fresh);
    await timed.retentionIdle(); // the pass at open
    vi.advanceTimersByTime(60_000);
    await timed.retentionIdle();
    expect(timed.get(fresh.id)).toBeUndefined();
    expect(timed.stats().inspections).toBe(0);
  });
});

describe('retention by disk quota', () => {
  it('deletes the oldest images first and keeps their inspections', async () => {
    const image = await noiseJpeg(48, 48, 7);
    const size = image.length;
    // Room for three and a half images.
    const s = open({ maxDiskMb: (3.5 * size) / MB }, () => clock);
    const saved = Array.from({ length: 8 }, (_, i) => s.save(makeInspection({ capturedAt: clock - (8 - i) * 60_000, frameSeq: i }), { image }));

    // Enforced as images are saved, not only when the timer fires.
    expect(s.stats().imageBytes).toBe(3 * size);
    const evicted = saved.slice(0, 5);
    const kept = saved.slice(5);
    for (const i of evicted) {
      const row = s.get(i.id)!;
      expect(row.imagePath).toBeUndefined();
      const { imagePath: _, ...metadata } = i;
      expect(row).toEqual(metadata); // statistics keep every other field
      expect(fs.existsSync(abs(i.imagePath!))).toBe(false);
      expect(() => s.imageFile(i.imagePath!)).toThrow();
    }
    for (const i of kept) {
      expect(s.get(i.id)!.imagePath).toBe(i.imagePath);
      expect(fs.existsSync(s.imageFile(i.imagePath!))).toBe(true);
    }
    expect(s.stats()).toMatchObject({ inspections: 8, imageBytes: 3 * size, retention: { deletedImages: 5, freedBytes: 5 * size, deletedInspections: 0 } });
    expect(s.countByVerdict().defect).toBe(8);

    // A smaller quota takes effect at open: only the newest image stays.
    const smaller = open({ maxDiskMb: (1.5 * size) / MB }, () => clock);
    await smaller.retentionIdle();
    expect(smaller.list().map((i) => i.imagePath !== undefined)).toEqual([true, false, false, false, false, false, false, false]);
    expect(smaller.stats().imageBytes).toBe(size);
    expect(await smaller.runRetention()).toEqual({ deletedInspections: 0, deletedImages: 0, freedBytes: 0, orphansRemoved: 0 });
  });

  it('removes an image and its overlay together', async () => {
    const image = await noiseJpeg(48, 48, 3);
    const overlay = await noiseJpeg(48, 48, 4);
    const s = open({ maxDiskMb: 1000 }, () => clock);
    const older = s.save(makeInspection({ capturedAt: clock - 2000 }), { image, overlay });
    const newer = s.save(makeInspection({ capturedAt: clock - 1000 }), { image, overlay });
    const tight = open({ maxDiskMb: (1.5 * (image.length + overlay.length)) / MB }, () => clock);
    await tight.retentionIdle();
    expect(tight.get(older.id)).not.toHaveProperty('overlayPath');
    expect(fs.existsSync(abs(older.overlayPath!))).toBe(false);
    expect(fs.existsSync(abs(older.imagePath!))).toBe(false);
    expect(tight.get(newer.id)).toEqual(newer);
    expect(tight.stats().retention.deletedImages).toBe(2);
  });
});

describe('orphan files', () => {
  it('removes old image and temp files no inspection refers to, and nothing else', async () => {
    const s = open();
    await s.retentionIdle(); // the pass at open, so that the one below is the one that finds them
    const image = await noiseJpeg();
    const kept = s.save(makeInspection({ capturedAt: Date.now() - 3_600_000 }), { image });
    const dayDir = path.dirname(abs(kept.imagePath!));
    const otherDay = path.join(tmp.dir, 'images', 'cam-1', '2000-01-01');
    fs.mkdirSync(otherDay, { recursive: true });
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    const plant = (file: string, old: boolean): string => {
      fs.writeFileSync(file, image);
      if (old) fs.utimesSync(file, twoMinutesAgo, twoMinutesAgo);
      return file;
    };
    const orphanId = newId();
    const removed = [
      plant(path.join(dayDir, `${orphanId}.jpg`), true), // crash between image write and row insert
      plant(path.join(dayDir, `${orphanId}.overlay.jpg`), true),
      plant(path.join(dayDir, `${newId()}.jpg.tmp`), true), // crash during the write
      plant(path.join(otherDay, `${kept.id}.jpg`), true), // the id exists, but the row points elsewhere
    ];
    const left = [
      plant(path.join(dayDir, `${newId()}.jpg`), false), // may belong to a save in progress
      plant(path.join(dayDir, 'notes.txt'), true), // not ours
    ];
    fs.utimesSync(abs(kept.imagePath!), twoMinutesAgo, twoMinutesAgo);

    const result = await s.runRetention();
    expect(result).toEqual({ deletedInspections: 0, deletedImages: 0, freedBytes: removed.length * image.length, orphansRemoved: removed.length });
    for (const f of removed) expect(fs.existsSync(f), f).toBe(false);
    for (const f of left) expect(fs.existsSync(f), f).toBe(true);
    expect(fs.readFileSync(s.imageFile(kept.imagePath!)).equals(image)).toBe(true);
    expect(fs.existsSync(otherDay)).toBe(false);
  });
});

describe('a failing pass', () => {
  it('does not stop the others: rows another table still references stay, the quota is still enforced', async () => {
    const image = await noiseJpeg(48, 48, 5);
    const s = open({ retentionDays: 7, maxDiskMb: 1000 }, () => clock);
    const old = s.save(makeInspection({ capturedAt: clock - 10 * DAY_MS }));
    const images = [2, 1].map((minutes) => s.save(makeInspection({ capturedAt: clock - minutes * 60_000 }), { image }));
    // A later module's table without ON DELETE CASCADE blocks deleting the old row.
    s.db.exec('CREATE TABLE pinned (inspection_id TEXT NOT NULL REFERENCES inspections (id))');
    s.db.prepare('INSERT INTO pinned VALUES (?)').run(old.id);

    const tight = open({ retentionDays: 7, maxDiskMb: (1.5 * image.length) / MB }, () => clock);
    await tight.retentionIdle();
    expect(tight.get(old.id)).toEqual(old);
    expect(tight.get(images[0]!.id)!.imagePath).toBeUndefined();
    expect(tight.get(images[1]!.id)!.imagePath).toBe(images[1]!.imagePath);
    expect(await tight.runRetention()).toMatchObject({ deletedInspections: 0, deletedImages: 0 });
  });
});

describe('a pass over many files', () => {
  const MINUTE = 60_000;
  const NONE = { deletedInspections: 0, deletedImages: 0, freedBytes: 0, orphansRemoved: 0 };

  /** Unreferenced images (a crash between image write and row insert) in the folders of `beside`. */
  function plantOrphans(beside: string[], image: Buffer): string[] {
    return beside.map((rel) => {
      const file = path.join(path.dirname(abs(rel)), `${newId()}.jpg`);
      fs.writeFileSync(file, image);
      return file;
    });
  }

  it('lets the line run while it goes through 20,000 images, and removes all it should', { timeout: 180_000 }, async () => {
    const image = await noiseJpeg(8, 8, 9);
    const n = 20_000;
    // The store's clock two minutes ahead, so that every file written here is past the orphan grace.
    const at = Date.now() + 2 * MINUTE;
    const s = open({ retentionDays: 1, maxDiskMb: (5000.5 * image.length) / MB, retentionIntervalSeconds: 86_400 }, () => at);
    await s.retentionIdle();
    // Over two days on six cameras: the older half past retentionDays; of the rest, the quota keeps the newest 5,000.
    const paths = fillStore(s, { count: n, image, from: at - 2 * DAY_MS, stepMs: (2 * DAY_MS) / n });
    const orphans = plantOrphans(paths.filter((_, i) => i % 100 === 0), image);

    // Timer ticks stand for the line's work: camera pipes, the model, saves, the API.
    let ticks = 0;
    let passing = true;
    const tick = (): void => {
      if (!passing) return;
      ticks += 1;
      setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    const result = await s.runRetention();
    passing = false;

    expect(ticks).toBeGreaterThanOrEqual(10); // a pass done in one go lets none run
    expect(result).toEqual({ deletedInspections: 10_000, deletedImages: 15_000, freedBytes: (15_000 + orphans.length) * image.length, orphansRemoved: orphans.length });
    for (const f of orphans) expect(fs.existsSync(f), f).toBe(false);
    paths.forEach((rel, i) => expect(fs.existsSync(abs(rel)), rel).toBe(i >= 15_000));
    const held = s.db.prepare<[], { image_path: string }>('SELECT image_path FROM inspections WHERE image_path IS NOT NULL').all();
    expect(held.map((r) => r.image_path)).toEqual(paths.slice(15_000));
    expect(s.stats()).toMatchObject({ inspections: 10_000, imageBytes: 5000 * image.length });
  });

  it('runs one pass at a time: calls and timer ticks during a pass share the next one', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const image = await noiseJpeg(8, 8, 10);
    const at = Date.now() + 2 * MINUTE;
    const s = open({ retentionIntervalSeconds: 60 }, () => at);
    await s.retentionIdle();
    const paths = fillStore(s, { count: 2000, image, from: at - 10 * MINUTE, stepMs: 100 });
    const orphans = plantOrphans(paths.filter((_, i) => i % 4 === 0), image);

    const first = s.runRetention();
    const second = s.runRetention();
    vi.advanceTimersByTime(60_000); // the timer's pass, while the first runs
    expect(s.runRetention()).toBe(second);
    expect(second).not.toBe(first);
    // The first found every orphan: the second did not start until the first had ended.
    expect(await first).toEqual({ ...NONE, freedBytes: orphans.length * image.length, orphansRemoved: orphans.length });
    expect(await second).toEqual(NONE);

    // Nothing runs after the shared pass (an orphan planted now stays), and the next call starts its own at once.
    const late = plantOrphans([paths[1]!], image);
    await s.retentionIdle();
    expect(fs.existsSync(late[0]!)).toBe(true);
    expect(await s.runRetention()).toMatchObject({ orphansRemoved: 1 });
    expect(s.stats().retention.orphansRemoved).toBe(orphans.length + 1);
  });

  it('lets no image be attached to a row while a pass still removes the one the quota took from it', async () => {
    const image = await noiseJpeg(8, 8, 12);
    const at = Date.now() + 2 * MINUTE;
    const filling = open({ retentionIntervalSeconds: 86_400 }, () => at);
    await filling.retentionIdle();
    const paths = fillStore(filling, { count: 2000, image, from: at - 10 * MINUTE, stepMs: 100 });
    // Reopened with room for half: the pass at open takes the older 1,000, a chunk at a time.
    const s = open({ maxDiskMb: (1000.5 * image.length) / MB, retentionIntervalSeconds: 86_400 }, () => at);
    const idOf = (rel: string): string => path.basename(rel, '.jpg');
    const cleared = s.db.prepare<[string], { found: number }>('SELECT 1 AS found FROM inspections WHERE id = ? AND image_path IS NULL');
    // A row the quota cleared whose file is still there: its removal is under way.
    const pending = await until('a row whose image is being removed', () => paths.slice(0, 1000).find((rel) => cleared.get(idOf(rel)) !== undefined && fs.existsSync(abs(rel))), 30_000, 0);
    expect(s.attachImage(idOf(pending), image)).toBeUndefined();
    await s.retentionIdle();
    expect(fs.existsSync(abs(pending))).toBe(false);
    const held = s.db.prepare<[], { image_path: string }>('SELECT image_path FROM inspections WHERE image_path IS NOT NULL').all();
    expect(held.map((r) => r.image_path)).toEqual(paths.slice(1000));
    for (const { image_path } of held) expect(fs.existsSync(abs(image_path)), image_path).toBe(true);
  });

  it('stops at close: no error, every row left still has its image, and the next open finishes the job', async () => {
    const { log, text } = capturingLogger();
    const image = await noiseJpeg(8, 8, 11);
    const n = 4000;
    const at = Date.now() + 2 * MINUTE;
    const s = open({ retentionDays: 1, retentionIntervalSeconds: 86_400 }, () => at, log);
    await s.retentionIdle();
    const paths = fillStore(s, { count: n, image, from: at - 3 * DAY_MS, stepMs: DAY_MS / n }); // all past retentionDays
    const rows = (): number => s.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM inspections').get()!.n;

    let stopped = false;
    const pass = s.runRetention().finally(() => (stopped = true));
    await until('the pass to have deleted some rows', () => rows() < n, 30_000, 1);
    await s.close();
    expect(stopped).toBe(true); // close() resolves once the pass has stopped
    const result = await pass;
    expect(result.deletedInspections).toBeGreaterThan(0);
    expect(result.deletedInspections).toBeLessThan(n);
    expect(text()).toContain('retention pass stopped: the store is closing');
    expect(text()).not.toMatch(/"level":(50|60)/); // no step failed on the closed database

    // As the pass left it: each row that is left has its image, and only their images are left.
    const db = new Database(path.join(tmp.dir, DB_FILE), { readonly: true });
    const left = db.prepare<[], { image_path: string }>('SELECT image_path FROM inspections ORDER BY captured_at').all();
    db.close();
    expect(left.map((r) => r.image_path)).toEqual(paths.slice(result.deletedInspections));
    paths.forEach((rel, i) => expect(fs.existsSync(abs(rel)), rel).toBe(i >= result.deletedInspections));

    const reopened = open({ retentionDays: 1, retentionIntervalSeconds: 86_400 }, () => at);
    await reopened.retentionIdle();
    expect(reopened.stats()).toMatchObject({ inspections: 0, retention: { deletedInspections: n - result.deletedInspections } });
    for (const rel of paths) expect(fs.existsSync(abs(rel)), rel).toBe(false);
  });
});
