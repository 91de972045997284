import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/common/errors.js';
import { createLogger } from '../../src/common/log.js';
import { openStore, type Store } from '../../src/store/index.js';
import { imageRelPath, tmpPathFor } from '../../src/store/images.js';
import { makeInspection, noiseJpeg, storeConfig, tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let store: Store | undefined;
let logLines: Array<{ level: number; msg: string; err?: { message: string; code?: string } }>;

beforeEach(async () => {
  tmp = await tempDir('visor-store-');
  logLines = [];
});
afterEach(async () => {
  store?.close();
  store = undefined;
  await tmp.cleanup();
});

function open(): Store {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  store = openStore({ config: storeConfig(), dataDir: tmp.dir, log: createLogger({ level: 'info', destination }) });
  return store;
}

const abs = (rel: string): string => path.join(tmp.dir, ...rel.split('/'));
const errorLogs = () => logLines.filter((l) => l.level >= 50);

describe('image write failures keep the inspection', () => {
  it('stores the row without image when the image folder cannot be created', async () => {
    const s = open();
    // A file where the camera's folder should be: mkdir fails with EEXIST/ENOTDIR.
    fs.writeFileSync(path.join(tmp.dir, 'images', 'cam-x'), 'not a folder');
    const inspection = makeInspection({ cameraId: 'cam-x' });
    const saved = s.save(inspection, { image: await noiseJpeg(), overlay: await noiseJpeg(48, 48, 2) });

    expect(saved).not.toHaveProperty('imagePath');
    expect(saved).not.toHaveProperty('overlayPath');
    expect(s.get(inspection.id)).toEqual(saved);
    expect(s.stats()).toMatchObject({ inspections: 1, imageBytes: 0, imageWriteErrors: 1 });
    await new Promise((r) => setImmediate(r));
    expect(errorLogs()).toHaveLength(1);
    expect(errorLogs()[0]!.msg).toMatch(/stored without/);
  });

  it('stores the row without image when the disk is full (ENOSPC), leaving no partial file', async () => {
    const s = open();
    const inspection = makeInspection();
    const file = abs(imageRelPath(inspection.cameraId, inspection.capturedAt, inspection.id, 'image'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Writes to /dev/full fail with ENOSPC, exactly like a full disk.
    fs.symlinkSync('/dev/full', tmpPathFor(file));

    const saved = s.save(inspection, { image: await noiseJpeg() });
    expect(saved.imagePath).toBeUndefined();
    expect(s.get(inspection.id)!.verdict).toBe('defect');
    expect(s.stats().imageWriteErrors).toBe(1);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(path.dirname(file))).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(errorLogs()[0]!.err).toMatchObject({ code: 'ENOSPC' });

    // The next one, with space, gets its image.
    const next = s.save(makeInspection(), { image: await noiseJpeg() });
    expect(fs.existsSync(s.imageFile(next.imagePath!))).toBe(true);
    expect(s.stats().imageWriteErrors).toBe(1);
  });

  it('keeps the image when only the overlay fails, and refuses non-JPEG data', async () => {
    const s = open();
    const inspection = makeInspection();
    const overlayFile = abs(imageRelPath(inspection.cameraId, inspection.capturedAt, inspection.id, 'overlay'));
    fs.mkdirSync(path.dirname(overlayFile), { recursive: true });
    fs.symlinkSync('/dev/full', tmpPathFor(overlayFile));
    const image = await noiseJpeg();
    const saved = s.save(inspection, { image, overlay: await noiseJpeg(48, 48, 2) });
    expect(saved.imagePath).toBeDefined();
    expect(saved.overlayPath).toBeUndefined();
    expect(s.stats()).toMatchObject({ imageWriteErrors: 1, imageBytes: image.length });

    const raw = s.save(makeInspection(), { image: Buffer.from('raw pixels, not a jpeg') });
    expect(raw.imagePath).toBeUndefined();
    expect(s.get(raw.id)).toBeDefined();
    expect(s.stats().imageWriteErrors).toBe(2);
  });
});

describe('row write failures', () => {
  it('throws a retryable StoreError, removes the images it wrote, and succeeds once there is room', async () => {
    const s = open();
    const image = await noiseJpeg();
    // Cap the database at its current size: SQLite reports SQLITE_FULL like on a full disk.
    s.db.pragma(`max_page_count = ${s.db.pragma('page_count', { simple: true }) as number}`);
    const big = Array.from({ length: 200 }, (_, i) => ({ label: `class-${i}`, score: i / 200 }));
    let failure: unknown;
    let failed: ReturnType<typeof makeInspection> | undefined;
    for (let i = 0; i < 200 && failure === undefined; i++) {
      const inspection = makeInspection({ classes: big, frameSeq: i });
      try {
        s.save(inspection, { image });
      } catch (err) {
        failure = err;
        failed = inspection;
      }
    }
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).retryable).toBe(true);
    expect(((failure as StoreError).cause as { code?: string }).code).toBe('SQLITE_FULL');
    expect(s.get(failed!.id)).toBeUndefined();
    expect(fs.existsSync(abs(imageRelPath(failed!.cameraId, failed!.capturedAt, failed!.id, 'image')))).toBe(false);

    s.db.pragma('max_page_count = 1073741823');
    const retried = s.save(failed!, { image });
    expect(s.get(failed!.id)).toEqual(retried);
    expect(fs.existsSync(s.imageFile(retried.imagePath!))).toBe(true);
  });
});
