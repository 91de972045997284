// The local store: inspections in SQLite (<dataDir>/visor.db) and their JPEGs under
// <dataDir>/images. An inspection is durable once save() returns (or saveAsync() resolves).
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import type { StoreConfig } from '../config/schema.js';
import { StoreError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Inspection, Verdict } from '../common/types.js';
import { IMAGES_DIR, imageRelPath, isJpeg, isSafeSegment, parseImageFileName, removeQuietly, writeFileAtomic, writeFileAtomicAsync, type ImageKind } from './images.js';
import { DB_FILE, openDatabase } from './database.js';
import { createDiskMonitor, rootCode, type DiskMonitor, type DiskSpace } from './disk.js';
import { createRetention, type RetentionResult } from './retention.js';
import { createReviews, type Reviews } from './reviews.js';
import { createInspectionQueries, decodeOverlayData, encodeOverlayData, fromRow, toRow, type InspectionRow, type OverlayData } from './rows.js';
export type { OverlayData } from './rows.js';

export { encodeJpeg } from './images.js';
export { migrations, type Migration } from './migrations.js';
export { DB_FILE } from './database.js';
export * from './reviews.js';
export { REVIEW_FILTERS, SHADOW_FILTERS, type InspectionFilter, type ReviewFilter, type ShadowFilter } from './rows.js';
export * from './reports.js';
export type { RetentionResult } from './retention.js';
export { diskHealth, diskPressure, type DiskLevel, type DiskMonitor, type DiskStatus } from './disk.js';
export { registerStoreMetrics } from './metrics.js';

export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 500;
/** At most one image-write error line per this interval; the rest are counted (a full disk would flood the log). */
const IMAGE_ERROR_LOG_INTERVAL_MS = 10_000;
/** On a filling disk, early retention runs at most this often (each pass scans for the oldest images). */
const EARLY_RETENTION_INTERVAL_MS = 1000;
/** How often free space is read while nothing is saved. */
const DISK_POLL_MS = 2000;
/** setInterval treats anything longer as 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface StoreDeps {
  /** With defaults applied. `config.dataDir` is ignored in favour of the resolved `dataDir`. */
  config: StoreConfig;
  /** Absolute. */
  dataDir: string;
  log: Logger;
  now?: () => number;
  /** Free space of the data dir's file system; defaults to statfs. */
  statfs?: (dir: string) => DiskSpace;
}

export interface ImagesToStore {
  /** JPEG. */
  image: Buffer;
  /** JPEG (rows before heat maps were stored as data; the pipeline no longer renders one). */
  overlay?: Buffer;
  /** What the overlay is drawn from (the heat map as data, its placement): kept with the image, rendered on demand. */
  overlayData?: OverlayData;
}

export interface ListQuery {
  limit?: number;
  /** Id cursor: only inspections older than this one. */
  before?: string;
  cameraId?: string;
  verdict?: Verdict;
}

export interface StoreStats {
  inspections: number;
  /** Bytes of the images and overlays rows still refer to (what the quota counts). */
  imageBytes: number;
  /** Image or overlay writes that failed since open (the inspections were stored without them). */
  imageWriteErrors: number;
  /** Inspections that could not be stored since open (see disk.status() for why). */
  notStored: number;
  /** What retention removed since open (including quota evictions triggered by save()). */
  retention: RetentionResult;
}

export interface Store {
  readonly dataDir: string;
  /**
   * Writes the images (if any), then the row, in that order; returns the inspection with
   * imagePath/overlayPath set (relative to dataDir) and timings.storeMs (time spent on the
   * images and preparing the row; the commit itself cannot be in the row it commits).
   * A failed image write is logged and counted and the row is stored without it; a failed
   * row write throws StoreError (retryable unless the row itself is invalid).
   */
  save(inspection: Inspection, images?: ImagesToStore): Inspection;
  /**
   * save() with the image files written and fsynced on libuv's threads, so the main thread
   * does not wait on the disk; the row commits once they are durable (a crash in between
   * leaves only unreferenced files, which retention's orphan sweep removes).
   */
  saveAsync(inspection: Inspection, images?: ImagesToStore): Promise<Inspection>;
  /**
   * Stores the image of an inspection that was stored without one (a frame someone needs to see
   * after all, such as one a shadow model disagrees on); the inspection's verdict and everything
   * decided at its save stay as they were. Returns the image's relative path, or undefined when
   * the inspection is unknown, has an image already, the write failed (logged and counted), or a
   * retention pass is still removing the image the quota took from it.
   */
  attachImage(id: string, jpeg: Buffer): string | undefined;
  get(id: string): Inspection | undefined;
  /** What the overlay of an inspection is drawn from, stored with its image; undefined if none. */
  overlayData(id: string): OverlayData | undefined;
  /** Newest first; limit defaults to 50, at most 500. */
  list(query?: ListQuery): Inspection[];
  countByVerdict(): Record<Verdict, number>;
  /** Absolute path for a stored relative image path; throws ImagePathError on path traversal or paths no inspection refers to. */
  imageFile(relPath: string): string;
  /**
   * A retention pass (age, quota, orphans) beside the line: it yields to the event loop between
   * chunks. One pass at a time: a call during a pass gets the next one, which starts when it
   * ends (the calls in between share it). Resolves with what the pass removed, never rejects (a
   * failing step is logged). At open and every retentionIntervalSeconds the store starts one.
   */
  runRetention(): Promise<RetentionResult>;
  /** Resolves once no retention pass is running or waiting. */
  retentionIdle(): Promise<void>;
  stats(): StoreStats;
  /**
   * Registers a hook that runs inside the transaction that inserts each inspection, so
   * what it writes (an outbox row, an upload job) commits or rolls back with it. A hook
   * that throws makes save() fail. Returns a function that removes the hook.
   */
  onSave(hook: SaveHook): () => void;
  /** Verdicts of reviewers and the review in force: the only writer of the review tables. */
  readonly reviews: Reviews;
  /** Free space against store.diskWatermarks and whether saving works (health, metrics, shedding). */
  readonly disk: DiskMonitor;
  /** For later modules' queries; their tables come from migrations.ts. */
  readonly db: Database.Database;
  /**
   * Closes the database at once; a retention pass in flight stops before its next database
   * step. Resolves once that pass has stopped (its folders closed, its removals done): await it
   * before removing the data dir.
   */
  close(): Promise<void>;
}

/** The image files of one save: paths of those written, and why the others failed. */
interface Written {
  imagePath?: string;
  overlayPath?: string;
  /** Absolute, to remove when the row cannot be stored. */
  files: string[];
  failed: string[];
}

export type SaveHook = (inspection: Inspection, db: Database.Database) => void;

/** imageFile() refused a path: `invalid` (malformed, traversal) or `unknown` (no inspection has it). */
export class ImagePathError extends StoreError {
  readonly reason: 'invalid' | 'unknown';
  constructor(reason: 'invalid' | 'unknown', relPath: string) {
    super(`${reason === 'invalid' ? 'invalid' : 'unknown'} image path ${JSON.stringify(relPath.slice(0, 200))}`);
    this.reason = reason;
  }
}

/** Constraint failures (duplicate id, bad verdict) will fail again; I/O, full disk and busy may not. */
function isRetryableSqliteError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return !(typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
}

/**
 * Between checkpoints SQLite's WAL grows to ~4 MB (1000 pages) and keeps that size: all of a
 * tiny disk. It is held to 0.1% of the data dir's file system (16 pages at least, SQLite's
 * default at most) and truncated back to that after each checkpoint.
 */
function boundWal(db: Database.Database, fileSystemBytes: number): void {
  if (!Number.isFinite(fileSystemBytes)) return;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = Math.max(16, Math.min(1000, Math.floor(fileSystemBytes / 1000 / pageSize)));
  db.pragma(`wal_autocheckpoint = ${pages}`);
  db.pragma(`journal_size_limit = ${pages * pageSize}`);
}

export function openStore(deps: StoreDeps): Store {
  const { config, dataDir } = deps;
  const log = deps.log; // the composition root hands in a child logger for this module
  const now = deps.now ?? Date.now;
  if (!path.isAbsolute(dataDir)) throw new StoreError(`store dataDir must be absolute, got ${dataDir}`);
  try {
    fs.mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new StoreError(`cannot create data folder ${dataDir}`, { cause: err });
  }
  const imagesRoot = path.join(dataDir, IMAGES_DIR);
  try {
    fs.mkdirSync(imagesRoot, { recursive: true });
  } catch (err) {
    // Inspections can still be stored without images; each save will count the failure.
    log.error({ err, dir: imagesRoot }, 'cannot create the images folder; inspections will be stored without images');
  }

  const db = openDatabase(path.join(dataDir, DB_FILE), log, now);

  const insert = db.prepare<[InspectionRow]>(`INSERT INTO inspections (
      id, camera_id, frame_seq, captured_at, inferred_at, decided_at, verdict, score, classes, boxes,
      model_name, model_version, model_task, thresholds, timings, image_path, overlay_path, image_bytes, source_file, image_shed, overlay_data
    ) VALUES (
      @id, @camera_id, @frame_seq, @captured_at, @inferred_at, @decided_at, @verdict, @score, @classes, @boxes,
      @model_name, @model_version, @model_task, @thresholds, @timings, @image_path, @overlay_path, @image_bytes, @source_file, @image_shed, @overlay_data
    )`);
  const saveHooks = new Set<SaveHook>();
  const commit = db.transaction((row: InspectionRow, stored: Inspection) => {
    insert.run(row);
    for (const hook of saveHooks) hook(stored, db);
  });
  const queries = createInspectionQueries(db);
  const existsById = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM inspections WHERE id = ?');
  const overlayDataById = db.prepare<[string], { overlay_data: string | null }>('SELECT overlay_data FROM inspections WHERE id = ?');
  const countRows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM inspections');
  const attach = db.prepare<[string, number, string]>('UPDATE inspections SET image_path = ?, image_bytes = image_bytes + ?, image_shed = NULL WHERE id = ? AND image_path IS NULL');
  const countVerdicts = db.prepare<[], { verdict: Verdict; n: number }>('SELECT verdict, COUNT(*) AS n FROM inspections GROUP BY verdict');

  /** Ids whose images are being written by saveAsync: a second save of one must not overwrite them, nor retention take them for orphans. */
  const saving = new Set<string>();
  const retention = createRetention({ db, dataDir, config, log, now, saving: (id) => saving.has(id) });
  /** Aborted by close(): a pass in flight stops before its next database step. */
  const closing = new AbortController();
  let passRunning: Promise<RetentionResult> | undefined;
  let passWaiting: Promise<RetentionResult> | undefined;
  const disk = createDiskMonitor({ dataDir, watermarks: config.diskWatermarks, log, now, statfs: deps.statfs });
  boundWal(db, disk.check().totalBytes);
  let earlyRetentionAt = Number.NEGATIVE_INFINITY;
  const quotaBytes = config.maxDiskMb * 1024 * 1024;
  let imageWriteErrors = 0;
  let lastImageErrorLogAt = Number.NEGATIVE_INFINITY;
  let suppressedImageErrors = 0;
  const retentionTotals: RetentionResult = { deletedInspections: 0, deletedImages: 0, freedBytes: 0, orphansRemoved: 0 };
  let timer: NodeJS.Timeout | undefined;
  let diskTimer: NodeJS.Timeout | undefined;

  function imageWriteFailed(err: unknown, inspection: Inspection, kind: ImageKind): void {
    imageWriteErrors += 1;
    disk.check();
    const t = now();
    if (t - lastImageErrorLogAt < IMAGE_ERROR_LOG_INTERVAL_MS) {
      suppressedImageErrors += 1;
      return;
    }
    log.error(
      { err, inspectionId: inspection.id, cameraId: inspection.cameraId, kind, imageWriteErrors, suppressedSinceLastLog: suppressedImageErrors },
      'could not write image; the inspection is stored without it',
    );
    lastImageErrorLogAt = t;
    suppressedImageErrors = 0;
  }

  /** Where an image goes; throws when it is not a JPEG. */
  function imageTarget(inspection: Inspection, kind: ImageKind, jpeg: Buffer): { rel: string; abs: string } {
    const rel = imageRelPath(inspection.cameraId, inspection.capturedAt, inspection.id, kind);
    if (!isJpeg(jpeg)) throw new StoreError(`${kind} is not a JPEG (${jpeg.length} bytes)`);
    return { rel, abs: path.join(dataDir, ...rel.split('/')) };
  }

  /** A failed image write: counted and logged, the reason in `written.failed`; the row is stored without it. */
  function imageFailed(err: unknown, inspection: Inspection, kind: ImageKind, written: Written): false {
    imageWriteFailed(err, inspection, kind);
    written.failed.push(`store: ${kind} write failed: ${rootCode(err) ?? errorMessage(err)}`);
    return false;
  }

  function imageWritten(kind: ImageKind, target: { rel: string; abs: string }, written: Written): true {
    written.files.push(target.abs);
    if (kind === 'image') written.imagePath = target.rel;
    else written.overlayPath = target.rel;
    return true;
  }

  /** Writes one JPEG; false (counted and logged, the reason in `written.failed`) if it failed. */
  function writeImage(inspection: Inspection, kind: ImageKind, jpeg: Buffer, written: Written): boolean {
    try {
      const target = imageTarget(inspection, kind, jpeg);
      writeFileAtomic(imagesRoot, target.abs, jpeg);
      return imageWritten(kind, target, written);
    } catch (err) {
      return imageFailed(err, inspection, kind, written);
    }
  }

  /** writeImage on libuv's threads. */
  async function writeImageAsync(inspection: Inspection, kind: ImageKind, jpeg: Buffer, written: Written): Promise<boolean> {
    try {
      const target = imageTarget(inspection, kind, jpeg);
      await writeFileAtomicAsync(imagesRoot, target.abs, jpeg);
      return imageWritten(kind, target, written);
    } catch (err) {
      return imageFailed(err, inspection, kind, written);
    }
  }

  /** Checked before writing files: ids and camera ids are path segments, and a second save with the same id must not overwrite the first one's images. */
  function checkNew(inspection: Inspection): void {
    if (!isSafeSegment(inspection.id)) throw new StoreError(`inspection id ${JSON.stringify(inspection.id)} is not a safe file name`);
    if (!isSafeSegment(inspection.cameraId)) throw new StoreError(`camera id ${JSON.stringify(inspection.cameraId)} is not a safe folder name`);
    if (saving.has(inspection.id) || existsById.get(inspection.id) !== undefined) throw new StoreError(`inspection ${inspection.id} is already stored`);
  }

  /** The row, once its images (those that could be written) are on disk. */
  function commitSaved(inspection: Inspection, images: ImagesToStore | undefined, written: Written, started: number): Inspection {
    const { imagePath, overlayPath, failed } = written;
    const imageBytes = (imagePath === undefined ? 0 : images!.image.length) + (overlayPath === undefined ? 0 : images!.overlay!.length);

    const { imagePath: _ignoredImage, overlayPath: _ignoredOverlay, overlayData: _ignoredData, ...rest } = inspection;
    const stored: Inspection = { ...rest, timings: { ...inspection.timings, storeMs: performance.now() - started } };
    if (imagePath !== undefined) stored.imagePath = imagePath;
    if (overlayPath !== undefined) stored.overlayPath = overlayPath;
    if (failed.length > 0 && stored.imageShed === undefined) stored.imageShed = failed[0];
    // Only with its image: without one there is nothing to draw the overlay over.
    const overlayData = imagePath !== undefined && images?.overlayData !== undefined ? encodeOverlayData(images.overlayData) : undefined;
    if (overlayData !== undefined) stored.overlayData = true;
    try {
      commit(toRow(stored, imageBytes, overlayData), stored);
    } catch (err) {
      for (const file of written.files) removeQuietly(file);
      disk.saveFailed(err);
      // The cause in the message too: callers log the message (SQLITE_FULL, SQLITE_IOERR, …).
      throw new StoreError(`could not store inspection ${inspection.id}: ${rootCode(err) ?? 'error'}: ${errorMessage(err)}`, { cause: err, retryable: isRetryableSqliteError(err) });
    }
    disk.saveSucceeded();
    relieveDisk();

    retention.added(imageBytes);
    // One chunk of the oldest images at most per save; a larger excess (a quota lowered since the
    // last start) is taken a chunk per save, and by the pass that runs at open.
    if (retention.imageBytes() > quotaBytes) {
      try {
        const evicted = retention.enforceQuota();
        retentionTotals.deletedImages += evicted.deletedImages;
        retentionTotals.freedBytes += evicted.freedBytes;
      } catch (err) {
        log.error({ err }, 'disk quota enforcement failed');
      }
    }
    return stored;
  }

  async function retentionPass(): Promise<RetentionResult> {
    let result: RetentionResult = { deletedInspections: 0, deletedImages: 0, freedBytes: 0, orphansRemoved: 0 };
    try {
      result = await retention.run(closing.signal);
    } catch (err) {
      log.error({ err }, 'retention failed; will try again at the next interval');
    }
    retentionTotals.deletedInspections += result.deletedInspections;
    retentionTotals.deletedImages += result.deletedImages;
    retentionTotals.freedBytes += result.freedBytes;
    retentionTotals.orphansRemoved += result.orphansRemoved;
    return result;
  }

  function runRetention(): Promise<RetentionResult> {
    if (passWaiting !== undefined) return passWaiting;
    const start = (): Promise<RetentionResult> => {
      const pass = retentionPass().finally(() => {
        if (passRunning === pass) passRunning = undefined;
      });
      passRunning = pass;
      return pass;
    };
    if (passRunning === undefined) return start();
    const waiting = passRunning.then(() => {
      passWaiting = undefined;
      return start();
    });
    passWaiting = waiting;
    return waiting;
  }

  /**
   * After each save (and every DISK_POLL_MS): re-reads free space. Below the retention
   * watermark the WAL is truncated, the oldest images go (a chunk per call) until free space is
   * back above shedOk, and a retention pass (age, quota, orphans) starts early, at most every
   * EARLY_RETENTION_INTERVAL_MS.
   */
  function relieveDisk(): void {
    const { level } = disk.check();
    if (level === 'ok' || level === 'warn') return;
    if (level === 'shed-ok') return;
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
      const wanted = disk.check().level === 'ok' ? 0 : disk.bytesToFree();
      if (wanted > 0) {
        const evicted = retention.freeSpace(wanted, { freeBytes: disk.status().freeBytes, diskLevel: level });
        retentionTotals.deletedImages += evicted.deletedImages;
        retentionTotals.freedBytes += evicted.freedBytes;
      }
      const t = now();
      if (t - earlyRetentionAt >= EARLY_RETENTION_INTERVAL_MS) {
        earlyRetentionAt = t;
        void runRetention();
      }
      disk.check();
    } catch (err) {
      log.error({ err }, 'early retention on a filling disk failed');
    }
  }

  const store: Store = {
    dataDir,
    db,
    disk,
    reviews: createReviews({ db, queries, now }),

    save(inspection, images) {
      const started = performance.now();
      checkNew(inspection);
      const written: Written = { files: [], failed: [] };
      // An overlay without its image is no use to anyone.
      if (images !== undefined && writeImage(inspection, 'image', images.image, written) && images.overlay !== undefined) writeImage(inspection, 'overlay', images.overlay, written);
      return commitSaved(inspection, images, written, started);
    },

    async saveAsync(inspection, images) {
      const started = performance.now();
      checkNew(inspection);
      saving.add(inspection.id);
      try {
        const written: Written = { files: [], failed: [] };
        if (images !== undefined && (await writeImageAsync(inspection, 'image', images.image, written)) && images.overlay !== undefined) await writeImageAsync(inspection, 'overlay', images.overlay, written);
        return commitSaved(inspection, images, written, started);
      } finally {
        saving.delete(inspection.id);
      }
    },

    attachImage(id, jpeg) {
      const row = queries.byId(id);
      if (row === undefined || row.image_path !== null) return undefined;
      const inspection = fromRow(row);
      // A pass may be removing the image the quota took from this row: the new one would go with it.
      if (retention.removing(path.join(dataDir, ...imageRelPath(inspection.cameraId, inspection.capturedAt, id, 'image').split('/')))) return undefined;
      const written: Written = { files: [], failed: [] };
      if (!writeImage(inspection, 'image', jpeg, written)) return undefined;
      const rel = written.imagePath!;
      let changed: number;
      try {
        changed = attach.run(rel, jpeg.length, id).changes;
      } catch (err) {
        for (const file of written.files) removeQuietly(file);
        disk.saveFailed(err);
        throw new StoreError(`could not attach the image of inspection ${id}: ${rootCode(err) ?? 'error'}: ${errorMessage(err)}`, { cause: err, retryable: isRetryableSqliteError(err) });
      }
      if (changed === 0) {
        // Another writer attached one in between (or retention removed the row): keep theirs.
        for (const file of written.files) removeQuietly(file);
        return undefined;
      }
      retention.added(jpeg.length);
      relieveDisk();
      return rel;
    },

    onSave(hook) {
      saveHooks.add(hook);
      return () => saveHooks.delete(hook);
    },

    get(id) {
      const row = queries.byId(id);
      return row === undefined ? undefined : fromRow(row);
    },

    overlayData(id) {
      const text = overlayDataById.get(id)?.overlay_data;
      return text ? decodeOverlayData(text) : undefined;
    },

    list(query = {}) {
      const requested = query.limit === undefined || !Number.isFinite(query.limit) ? LIST_DEFAULT_LIMIT : Math.floor(query.limit);
      const limit = Math.min(LIST_MAX_LIMIT, Math.max(1, requested));
      return queries.find({ below: query.before, cameraId: query.cameraId, verdict: query.verdict }, limit).map(fromRow);
    },

    countByVerdict() {
      const counts: Record<Verdict, number> = { ok: 0, uncertain: 0, defect: 0 };
      for (const { verdict, n } of countVerdicts.all()) counts[verdict] = n;
      return counts;
    },

    imageFile(relPath) {
      if (typeof relPath !== 'string') throw new ImagePathError('invalid', String(relPath));
      const parts = relPath.split('/');
      const [root, camera, day, name] = parts;
      const wellFormed =
        parts.length === 4 &&
        root === IMAGES_DIR &&
        isSafeSegment(camera!) &&
        /^\d{4}-\d{2}-\d{2}$/.test(day!) &&
        parseImageFileName(name!) !== undefined;
      if (!wellFormed) throw new ImagePathError('invalid', relPath);
      const abs = path.resolve(dataDir, ...parts);
      if (!abs.startsWith(imagesRoot + path.sep)) throw new ImagePathError('invalid', relPath);
      const { id, kind } = parseImageFileName(name!)!;
      const row = queries.byId(id);
      const stored = row === undefined ? undefined : kind === 'overlay' ? row.overlay_path : row.image_path;
      if (stored !== relPath) throw new ImagePathError('unknown', relPath);
      return abs;
    },

    runRetention,

    async retentionIdle() {
      for (let pass = passWaiting ?? passRunning; pass !== undefined; pass = passWaiting ?? passRunning) await pass;
    },

    stats() {
      return {
        inspections: countRows.get()!.n,
        imageBytes: retention.imageBytes(),
        imageWriteErrors,
        notStored: disk.status().notStored,
        retention: { ...retentionTotals },
      };
    },

    close() {
      closing.abort();
      if (timer !== undefined) clearInterval(timer);
      clearInterval(diskTimer);
      timer = undefined;
      if (db.open) {
        try {
          db.pragma('optimize');
        } catch {
          // best effort; closing matters more
        }
        db.close();
      }
      return store.retentionIdle();
    },
  };

  void runRetention();
  relieveDisk(); // a start on an already-full disk is reported, and relieved, at once
  timer = setInterval(() => void runRetention(), Math.min(MAX_TIMER_MS, config.retentionIntervalSeconds * 1000));
  timer.unref(); // retention must never keep the process alive on shutdown
  // Free space also changes while nothing is saved (a camera offline, another writer on the disk).
  diskTimer = setInterval(relieveDisk, DISK_POLL_MS);
  diskTimer.unref();

  log.info({ dataDir, inspections: store.stats().inspections, imageBytes: retention.imageBytes() }, 'store open');
  return store;
}
