// Retention: what is deleted, and in which order, so that a row never points at a missing
// file. Rows are changed first (in a transaction), files removed after; a crash in between
// leaves only unreferenced files, which the orphan sweep removes on the next run.
//
// A pass runs beside the line and holds the main thread only for one chunk at a time (issue
// 22: done in one go, a pass over 100,000 images held it for 1.6–6.7 s): rows are changed
// CHUNK at a time, folders are read and files removed on libuv's threads, and whether files
// are referenced is one query per chunk. Between chunks the line runs, so a save may happen
// at any await: each chunk's row change and the choice of its files happen in one tick, an
// orphan is handed to removal only after a fresh check in that tick, and until a file is gone
// removing() tells attachImage() not to write an image at its path (saves of new inspections
// write paths of ids no row has, and files of saves in flight are no orphans).
//
// The orphan sweep walks every folder at every pass. Orphans come from a crash (between an
// image write and its row, or between a row change and its unlink) but also from a failed
// unlink or a failed commit on a sick disk while running, so no folder can be ruled out; and
// walked in chunks it costs the line little (figures in the README's Performance section).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import type { StoreConfig } from '../config/schema.js';
import type { Logger } from '../common/log.js';
import { IMAGES_DIR, TMP_SUFFIX, parseImageFileName, removeQuietly } from './images.js';

export interface RetentionResult {
  /** Rows deleted because they were older than retentionDays. */
  deletedInspections: number;
  /** Image and overlay files deleted with old rows or to stay under the quota (orphans not included). */
  deletedImages: number;
  /** Bytes of every file removed, orphans included. */
  freedBytes: number;
  /** Unreferenced image files and stale temporary files removed. */
  orphansRemoved: number;
}

/** Files younger than this are never treated as orphans: a save may be between writing them and inserting the row. */
export const ORPHAN_GRACE_MS = 60_000;
/** Rows changed per transaction, and files checked per query: one chunk's work on the main thread stays a few ms. */
const CHUNK = 100;
/** File removals in flight at once: libuv's four threads also write the line's images and run sharp's encodes. */
const REMOVALS_IN_FLIGHT = 2;
const DAY_MS = 86_400_000;

interface ImageRow {
  id: string;
  image_path: string | null;
  overlay_path: string | null;
  image_bytes: number;
}

export interface RetentionDeps {
  db: Database;
  dataDir: string;
  config: StoreConfig;
  log: Logger;
  now: () => number;
  /** Whether a save of this inspection id is writing its files (its row is not in yet): they are no orphans, however old. */
  saving?: (id: string) => boolean;
}

export interface Retention {
  /**
   * One pass: rows past retentionDays, then the quota, then orphans. Yields to the event loop
   * between chunks; once `signal` aborts it stops before its next database step and resolves
   * with what it did so far. Never run two at once (the store serialises them).
   */
  run(signal?: AbortSignal): Promise<RetentionResult>;
  /** The quota for save(): at most one chunk of the oldest images per call (cheap when under quota); returns images deleted and bytes freed. */
  enforceQuota(): { deletedImages: number; freedBytes: number };
  /** Early retention on a filling disk: deletes up to one chunk of the oldest images (rows stay) towards `bytes` freed. */
  freeSpace(bytes: number, why: Record<string, unknown>): { deletedImages: number; freedBytes: number };
  /** Sum of image_bytes over rows that still hold images: a running total (re-read from SQL once a pass), so no query. */
  imageBytes(): number;
  /** Tells the running total about image bytes a committed row (or an attached image) added. */
  added(bytes: number): void;
  /** Whether a pass is removing this file (absolute path; its row no longer refers to it): nothing may be written there until it is gone. */
  removing(file: string): boolean;
}

/** Thrown inside a pass when its signal aborted (the store is closing). */
class Stopped extends Error {}

type Counts = { rows: number; files: number; bytes: number };

export function createRetention(deps: RetentionDeps): Retention {
  const { db, dataDir, config, log, now } = deps;
  const saving = deps.saving ?? (() => false);
  const imagesRoot = path.join(dataDir, IMAGES_DIR);
  const quotaBytes = config.maxDiskMb * 1024 * 1024;

  // Inspections with a job in the upload queue (src/upload) are kept past retentionDays:
  // only the quota pass below may take their images, and it counts them.
  const selectExpired = db.prepare<[number, number], ImageRow>(
    `SELECT id, image_path, overlay_path, image_bytes FROM inspections WHERE captured_at < ?
       AND NOT EXISTS (SELECT 1 FROM upload_queue q WHERE q.inspection_id = inspections.id)
     ORDER BY captured_at LIMIT ?`,
  );
  const isAwaitingUpload = db.prepare<[string], { found: number }>(`SELECT 1 AS found FROM upload_queue WHERE inspection_id = ? AND kind = 'sample'`);
  const deleteRow = db.prepare<[string]>('DELETE FROM inspections WHERE id = ?');
  const sumImageBytes = db.prepare<[], { total: number }>('SELECT COALESCE(SUM(image_bytes), 0) AS total FROM inspections WHERE image_bytes > 0');
  const selectOldestImages = db.prepare<[number], ImageRow>(
    'SELECT id, image_path, overlay_path, image_bytes FROM inspections WHERE image_bytes > 0 ORDER BY captured_at, id LIMIT ?',
  );
  const clearImages = db.prepare<[string]>('UPDATE inspections SET image_path = NULL, overlay_path = NULL, image_bytes = 0 WHERE id = ?');
  // One query per chunk of files: the ids as a JSON array (the primary key serves the IN).
  const selectPaths = db.prepare<[string], Pick<ImageRow, 'id' | 'image_path' | 'overlay_path'>>(
    'SELECT id, image_path, overlay_path FROM inspections WHERE id IN (SELECT value FROM json_each(?))',
  );

  const deleteTx = db.transaction((rows: ImageRow[]) => {
    for (const row of rows) deleteRow.run(row.id);
  });
  const clearTx = db.transaction((rows: ImageRow[]) => {
    for (const row of rows) clearImages.run(row.id);
  });
  // Sum of image_bytes: the store and this module are the only writers of that column, so
  // the total is kept in step with each change; a scan of the partial index (7–28 ms at
  // 100,000 rows on a loaded machine) runs once per pass, not twice for each save over the quota.
  let heldBytes = sumImageBytes.get()!.total;
  const rowBytes = (rows: ImageRow[]): number => rows.reduce((sum, row) => sum + row.image_bytes, 0);
  const deleteRows = (rows: ImageRow[]): void => {
    deleteTx(rows);
    heldBytes -= rowBytes(rows);
  };
  const clearRows = (rows: ImageRow[]): void => {
    clearTx(rows);
    heldBytes -= rowBytes(rows);
  };

  /** Files a pass has taken from their rows and not yet removed. */
  const removingFiles = new Set<string>();

  const filesOf = (rows: ImageRow[]): string[] =>
    rows.flatMap((row) => [row.image_path, row.overlay_path]).flatMap((rel) => (rel === null ? [] : [path.join(dataDir, ...rel.split('/'))]));

  function removeFiles(rows: ImageRow[]): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    for (const file of filesOf(rows)) {
      const size = removeQuietly(file);
      if (size === undefined) continue; // already gone (e.g. a crash after the row change last time)
      files += 1;
      bytes += size;
    }
    return { files, bytes };
  }

  /**
   * Removes files (absolute paths) on libuv's threads, REMOVALS_IN_FLIGHT at a time. Call it in
   * the tick that took them from their rows (or found them unreferenced): from then until each
   * is gone, removing() says so.
   */
  async function removeFilesAsync(files: string[]): Promise<{ files: number; bytes: number }> {
    for (const file of files) removingFiles.add(file);
    const removed = { files: 0, bytes: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const file = files[next++]!;
        try {
          const { size } = await fsp.stat(file);
          await fsp.unlink(file);
          removed.files += 1;
          removed.bytes += size;
        } catch {
          // already gone; one that cannot be removed is an orphan for a later sweep
        } finally {
          removingFiles.delete(file);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REMOVALS_IN_FLIGHT, files.length) }, worker));
    return removed;
  }

  /** Before each database step of a pass. */
  function proceed(signal: AbortSignal | undefined): void {
    if (signal?.aborted || !db.open) throw new Stopped();
  }

  /** Adds what removeFilesAsync removed to a step's counts. */
  async function removeCounted(files: string[], counts: Counts): Promise<void> {
    const removed = await removeFilesAsync(files);
    counts.files += removed.files;
    counts.bytes += removed.bytes;
  }

  // Each step counts into its own `counts` (zero at the start of a pass), kept when a step fails or the pass stops.
  async function deleteExpired(counts: Counts, signal: AbortSignal | undefined): Promise<void> {
    const cutoff = now() - config.retentionDays * DAY_MS;
    try {
      for (;;) {
        proceed(signal);
        const rows = selectExpired.all(cutoff, CHUNK);
        if (rows.length === 0) break;
        deleteRows(rows);
        counts.rows += rows.length;
        await removeCounted(filesOf(rows), counts);
      }
    } finally {
      if (counts.rows > 0) {
        log.info({ deletedInspections: counts.rows, deletedImages: counts.files, freedBytes: counts.bytes, retentionDays: config.retentionDays }, 'retention: deleted inspections older than retentionDays');
      }
    }
  }

  /** The oldest images (up to one chunk) whose bytes cover `bytes`, their rows cleared; with how many awaited an upload. */
  function takeOldest(bytes: number): { victims: ImageRow[]; awaitingUpload: number } {
    const victims: ImageRow[] = [];
    let toFree = bytes;
    for (const row of selectOldestImages.all(CHUNK)) {
      if (toFree <= 0) break;
      victims.push(row);
      toFree -= row.image_bytes;
    }
    let awaitingUpload = 0;
    for (const row of victims) if (isAwaitingUpload.get(row.id) !== undefined) awaitingUpload += 1;
    clearRows(victims);
    return { victims, awaitingUpload };
  }

  // Visible on purpose: images are being lost because the quota or the disk is too small for the defect rate.
  const QUOTA_MESSAGE = 'disk quota exceeded: deleted the oldest images (their inspections are kept without image)';
  const EARLY_MESSAGE = 'data dir running out of space: deleted the oldest images early (their inspections are kept without image)';

  /** For save() and the disk monitor, which need the space now: one chunk, files removed before it returns. */
  function evictOldest(bytes: number, why: Record<string, unknown>, message: string): { deletedImages: number; freedBytes: number } {
    if (bytes <= 0) return { deletedImages: 0, freedBytes: 0 };
    const { victims, awaitingUpload } = takeOldest(bytes);
    const removed = removeFiles(victims);
    if (victims.length > 0) log.warn({ inspections: victims.length, deletedImages: removed.files, freedBytes: removed.bytes, awaitingUpload, ...why }, message);
    return { deletedImages: removed.files, freedBytes: removed.bytes };
  }

  /** The pass's quota step: chunk by chunk until under quota (saves add images, and take some, meanwhile). */
  async function enforceQuotaAsync(counts: Counts, signal: AbortSignal | undefined): Promise<void> {
    let awaitingUpload = 0;
    proceed(signal);
    heldBytes = sumImageBytes.get()!.total; // once a pass, in case the total and the rows ever part
    try {
      for (;;) {
        proceed(signal);
        const over = heldBytes - quotaBytes;
        if (over <= 0) break;
        const taken = takeOldest(over);
        if (taken.victims.length === 0) break;
        counts.rows += taken.victims.length; // rows keep living, without their images
        awaitingUpload += taken.awaitingUpload;
        await removeCounted(filesOf(taken.victims), counts);
      }
    } finally {
      if (counts.rows > 0) log.warn({ inspections: counts.rows, deletedImages: counts.files, freedBytes: counts.bytes, awaitingUpload, maxDiskMb: config.maxDiskMb }, QUOTA_MESSAGE);
    }
  }

  interface Candidate {
    abs: string;
    rel: string;
    /** Inspection id from the name (a temp file's from the name it was to get). */
    id: string | undefined;
    kind: 'image' | 'overlay';
    stale: boolean;
  }

  /** The candidates no row refers to and no save is writing: one query for them all. */
  function unreferenced(candidates: Candidate[]): Candidate[] {
    const ids = [...new Set(candidates.flatMap((c) => (c.id === undefined ? [] : [c.id])))];
    const rows = new Map(selectPaths.all(JSON.stringify(ids)).map((row) => [row.id, row]));
    return candidates.filter((c) => {
      if (c.id !== undefined && saving(c.id)) return false;
      if (c.stale) return true;
      const row = rows.get(c.id!);
      return row === undefined || (c.kind === 'overlay' ? row.overlay_path : row.image_path) !== c.rel;
    });
  }

  /** Removes the old unreferenced files among `candidates`; their age is read on libuv's threads. */
  async function sweep(candidates: Candidate[], oldBefore: number, counts: Counts, signal: AbortSignal | undefined): Promise<void> {
    proceed(signal);
    const suspects = unreferenced(candidates);
    const old: Candidate[] = [];
    for (const c of suspects) {
      try {
        if ((await fsp.stat(c.abs)).mtimeMs < oldBefore) old.push(c);
      } catch {
        // gone meanwhile
      }
    }
    if (old.length === 0) return;
    // Checked again in the tick that hands them to removal: an attachImage() may have written one for its row while its age was read.
    proceed(signal);
    await removeCounted(unreferenced(old).map((c) => c.abs), counts);
  }

  /** Walks images/<camera>/<day>/ and removes old unreferenced images, stale temp files and empty folders. */
  async function removeOrphans(counts: Counts, signal: AbortSignal | undefined): Promise<void> {
    const oldBefore = now() - ORPHAN_GRACE_MS;
    /** Returns whether it removed the folder (it was empty, or emptied). */
    const visit = async (dir: string, rel: string, depth: number): Promise<boolean> => {
      let handle: fs.Dir;
      try {
        handle = await fsp.opendir(dir, { bufferSize: 128 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, dir: rel }, 'retention: cannot read image folder');
        return false;
      }
      let entries = 0;
      let gone = 0;
      let chunk: Candidate[] = [];
      const sweepChunk = async (): Promise<void> => {
        const before = counts.files;
        await sweep(chunk, oldBefore, counts, signal);
        gone += counts.files - before;
        chunk = [];
      };
      // The async iterator closes the folder when the loop ends, however it ends.
      for await (const entry of handle) {
        if (signal?.aborted) throw new Stopped();
        entries += 1;
        const abs = path.join(dir, entry.name);
        const entryRel = `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          if (depth < 2 && (await visit(abs, entryRel, depth + 1))) gone += 1;
          continue;
        }
        if (!entry.isFile()) continue;
        const stale = entry.name.endsWith(TMP_SUFFIX);
        const parsed = parseImageFileName(stale ? entry.name.slice(0, -TMP_SUFFIX.length) : entry.name);
        if (!stale && parsed === undefined) continue; // not a file this module writes: leave it alone
        chunk.push({ abs, rel: entryRel, id: parsed?.id, kind: parsed?.kind ?? 'image', stale });
        if (chunk.length >= CHUNK) await sweepChunk();
      }
      if (chunk.length > 0) await sweepChunk();
      if (depth === 0 || gone < entries) return false; // a folder still holding files is not even tried
      try {
        // Synchronous: a save() on the main thread must not find the folder it just made gone.
        fs.rmdirSync(dir); // only succeeds when empty (a save may have added a file since)
        return true;
      } catch {
        return false; // not empty, or already gone
      }
    };
    try {
      await visit(imagesRoot, IMAGES_DIR, 0);
    } finally {
      if (counts.files > 0) log.info({ orphansRemoved: counts.files, freedBytes: counts.bytes }, 'retention: removed image files no inspection refers to');
    }
  }

  return {
    async run(signal) {
      const expired: Counts = { rows: 0, files: 0, bytes: 0 };
      const quota: Counts = { rows: 0, files: 0, bytes: 0 };
      const orphans: Counts = { rows: 0, files: 0, bytes: 0 };
      // Each step on its own: one that keeps failing (say, a row another table still
      // references) must not stop the quota from being enforced.
      const step = async (name: string, fn: (counts: Counts, signal: AbortSignal | undefined) => Promise<void>, counts: Counts): Promise<void> => {
        try {
          await fn(counts, signal);
        } catch (err) {
          if (err instanceof Stopped) throw err;
          log.error({ err, pass: name }, 'retention pass failed; the next run will try again');
        }
      };
      try {
        await step('age', deleteExpired, expired);
        await step('quota', enforceQuotaAsync, quota);
        await step('orphans', removeOrphans, orphans);
      } catch (err) {
        if (!(err instanceof Stopped)) throw err;
        log.info('retention pass stopped: the store is closing');
      }
      return {
        deletedInspections: expired.rows,
        deletedImages: expired.files + quota.files,
        freedBytes: expired.bytes + quota.bytes + orphans.bytes,
        orphansRemoved: orphans.files,
      };
    },
    enforceQuota: () => evictOldest(heldBytes - quotaBytes, { maxDiskMb: config.maxDiskMb }, QUOTA_MESSAGE),
    freeSpace: (bytes, why) => evictOldest(bytes, why, EARLY_MESSAGE),
    imageBytes: () => heldBytes,
    added: (bytes) => {
      heldBytes += bytes;
    },
    removing: (file) => removingFiles.has(file),
  };
}
