// Retention: what is deleted, and in which order, so that a row never points at a missing
// file. Rows are changed first (in a transaction), files removed after; a crash in between
// leaves only unreferenced files, which the orphan sweep removes on the next run.
import fs from 'node:fs';
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
const BATCH = 500;
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
}

export interface Retention {
  run(): RetentionResult;
  /** Just the quota pass (cheap when under quota); returns images deleted and bytes freed. */
  enforceQuota(): { deletedImages: number; freedBytes: number };
  /** Early retention on a filling disk: deletes the oldest images (rows stay) until `bytes` are freed. */
  freeSpace(bytes: number, why: Record<string, unknown>): { deletedImages: number; freedBytes: number };
  /** Sum of image_bytes over rows that still hold images. */
  imageBytes(): number;
}

export function createRetention(deps: RetentionDeps): Retention {
  const { db, dataDir, config, log, now } = deps;
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
  const selectPaths = db.prepare<[string], Pick<ImageRow, 'image_path' | 'overlay_path'>>('SELECT image_path, overlay_path FROM inspections WHERE id = ?');

  const deleteRows = db.transaction((rows: ImageRow[]) => {
    for (const row of rows) deleteRow.run(row.id);
  });
  const clearRows = db.transaction((rows: ImageRow[]) => {
    for (const row of rows) clearImages.run(row.id);
  });

  function removeFiles(rows: ImageRow[]): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    for (const row of rows) {
      for (const rel of [row.image_path, row.overlay_path]) {
        if (rel === null) continue;
        const size = removeQuietly(path.join(dataDir, ...rel.split('/')));
        if (size === undefined) continue; // already gone (e.g. a crash after the row change last time)
        files += 1;
        bytes += size;
      }
    }
    return { files, bytes };
  }

  function deleteExpired(): { rows: number; files: number; bytes: number } {
    const cutoff = now() - config.retentionDays * DAY_MS;
    const total = { rows: 0, files: 0, bytes: 0 };
    for (;;) {
      const rows = selectExpired.all(cutoff, BATCH);
      if (rows.length === 0) break;
      deleteRows(rows);
      const removed = removeFiles(rows);
      total.rows += rows.length;
      total.files += removed.files;
      total.bytes += removed.bytes;
    }
    if (total.rows > 0) {
      log.info({ deletedInspections: total.rows, deletedImages: total.files, freedBytes: total.bytes, retentionDays: config.retentionDays }, 'retention: deleted inspections older than retentionDays');
    }
    return total;
  }

  /** Clears the oldest images (their rows stay) until `bytes` are freed; `why` goes in the log line. */
  function evictOldest(bytes: number, why: Record<string, unknown>, message: string): { deletedImages: number; freedBytes: number } {
    let toFree = bytes;
    let images = 0;
    let freed = 0;
    let rowsCleared = 0;
    let awaitingUpload = 0;
    while (toFree > 0) {
      const candidates = selectOldestImages.all(BATCH);
      if (candidates.length === 0) break;
      const victims: ImageRow[] = [];
      for (const row of candidates) {
        if (toFree <= 0) break;
        victims.push(row);
        toFree -= row.image_bytes;
      }
      for (const row of victims) if (isAwaitingUpload.get(row.id) !== undefined) awaitingUpload += 1;
      clearRows(victims);
      const removed = removeFiles(victims);
      rowsCleared += victims.length;
      images += removed.files;
      freed += removed.bytes;
    }
    // Visible on purpose: images are being lost because the quota or the disk is too small for the defect rate.
    if (rowsCleared > 0) log.warn({ inspections: rowsCleared, deletedImages: images, freedBytes: freed, awaitingUpload, ...why }, message);
    return { deletedImages: images, freedBytes: freed };
  }

  function enforceQuota(): { deletedImages: number; freedBytes: number } {
    const over = sumImageBytes.get()!.total - quotaBytes;
    if (over <= 0) return { deletedImages: 0, freedBytes: 0 };
    return evictOldest(over, { maxDiskMb: config.maxDiskMb }, 'disk quota exceeded: deleted the oldest images (their inspections are kept without image)');
  }

  function isReferenced(rel: string, name: string): boolean {
    const parsed = parseImageFileName(name);
    if (parsed === undefined) return true; // not a file this module writes: leave it alone
    const row = selectPaths.get(parsed.id);
    if (row === undefined) return false;
    return (parsed.kind === 'overlay' ? row.overlay_path : row.image_path) === rel;
  }

  /** Walks images/<camera>/<day>/ and removes old unreferenced images, stale temp files and empty folders. */
  function removeOrphans(): { files: number; bytes: number } {
    const result = { files: 0, bytes: 0 };
    const oldBefore = now() - ORPHAN_GRACE_MS;
    const visit = (dir: string, rel: string, depth: number): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, dir: rel }, 'retention: cannot read image folder');
        return;
      }
      for (const entry of entries) {
        const abs = path.join(dir, entry.name);
        const entryRel = `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          if (depth < 2) visit(abs, entryRel, depth + 1);
          continue;
        }
        if (!entry.isFile()) continue;
        const stale = entry.name.endsWith(TMP_SUFFIX);
        if (!stale && isReferenced(entryRel, entry.name)) continue;
        let mtime: number;
        try {
          mtime = fs.statSync(abs).mtimeMs;
        } catch {
          continue;
        }
        if (mtime >= oldBefore) continue;
        const size = removeQuietly(abs);
        if (size === undefined) continue;
        result.files += 1;
        result.bytes += size;
      }
      if (depth > 0) {
        try {
          fs.rmdirSync(dir); // only succeeds when empty
        } catch {
          // not empty, or already gone
        }
      }
    };
    visit(imagesRoot, IMAGES_DIR, 0);
    if (result.files > 0) log.info({ orphansRemoved: result.files, freedBytes: result.bytes }, 'retention: removed image files no inspection refers to');
    return result;
  }

  return {
    run() {
      // Each pass on its own: one that keeps failing (say, a row another table still
      // references) must not stop the quota from being enforced.
      const pass = <T>(name: string, fn: () => T, none: T): T => {
        try {
          return fn();
        } catch (err) {
          log.error({ err, pass: name }, 'retention pass failed; the next run will try again');
          return none;
        }
      };
      const expired = pass('age', deleteExpired, { rows: 0, files: 0, bytes: 0 });
      const quota = pass('quota', enforceQuota, { deletedImages: 0, freedBytes: 0 });
      const orphans = pass('orphans', removeOrphans, { files: 0, bytes: 0 });
      return {
        deletedInspections: expired.rows,
        deletedImages: expired.files + quota.deletedImages,
        freedBytes: expired.bytes + quota.freedBytes + orphans.bytes,
        orphansRemoved: orphans.files,
      };
    },
    enforceQuota,
    freeSpace: (bytes, why) => evictOldest(bytes, why, 'data dir running out of space: deleted the oldest images early (their inspections are kept without image)'),
    imageBytes: () => sumImageBytes.get()!.total,
  };
}
