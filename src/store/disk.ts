// Free space of the data dir against the watermarks (store.diskWatermarks), and whether
// saving inspections works: what the store tells health, metrics, the sampling policy (as a
// pressure source) and the IoT Hub health messages. A full disk must be loud, not silent.
import fs from 'node:fs';
import type { StoreConfig } from '../config/schema.js';
import type { Logger } from '../common/log.js';

/** Ordered: each level includes what the ones before it do. */
export type DiskLevel = 'ok' | 'warn' | 'shed-ok' | 'retention' | 'refuse-images';
const LEVELS: readonly DiskLevel[] = ['ok', 'warn', 'shed-ok', 'retention', 'refuse-images'];

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

export interface SaveFailure {
  /** The underlying cause's code: SQLITE_FULL, ENOSPC, SQLITE_IOERR, … */
  code: string;
  message: string;
  at: number;
}

export interface DiskStatus {
  level: DiskLevel;
  freeBytes: number;
  totalBytes: number;
  freePercent: number;
  /** Human text for health and logs, e.g. 'data dir 3% free (150 MB of 5 GB)'; undefined when all is well. */
  reason?: string;
  /** Inspections that could not be stored since open (their verdicts are lost: the pipeline logs each). */
  notStored: number;
  /**
   * The last failed save while saving still fails; cleared once saving has worked again for
   * RECOVERY_SAVES saves in a row and RECOVERY_MS since the last failure (a database at its cap
   * fits a save now and then as deleted rows free pages, which must not flap health).
   */
  saveFailure?: SaveFailure;
}

export interface DiskMonitorDeps {
  dataDir: string;
  watermarks: StoreConfig['diskWatermarks'];
  log: Logger;
  now: () => number;
  /** Free space of the data dir's file system (tests pass a fake one only where the disk is not what they test). */
  statfs?: (dir: string) => DiskSpace;
}

export interface DiskMonitor {
  /** Re-reads free space (a statfs: microseconds, so after every save; a burst can fill a small disk); returns the status. */
  check(): DiskStatus;
  status(): DiskStatus;
  /** A save failed: `err` is what SQLite or the file system threw. */
  saveFailed(err: unknown): void;
  saveSucceeded(): void;
  /** Bytes that must be freed to get back above the shed-ok watermark (0 when above it). */
  bytesToFree(): number;
  /** Called on every change of level or of the failing state (health messages send at once). */
  onChange(listener: (status: DiskStatus) => void): () => void;
}

export function statfsSpace(dir: string): DiskSpace {
  const s = fs.statfsSync(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** "SQLITE_FULL", "ENOSPC", …: the code of the error or of the first cause that has one. */
export function rootCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'STORE_FAILED') return code;
  }
  return undefined;
}

function rootMessage(err: unknown): string {
  let e = err;
  for (let depth = 0; (e as { cause?: unknown })?.cause !== undefined && depth < 8; depth++) e = (e as { cause: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.round(bytes / 1024)} kB`;
}

const HYSTERESIS_PERCENT = 0.5;

/** Saving counts as working again after this many successful saves in a row, */
export const RECOVERY_SAVES = 3;
/** and this long since the last failure. */
export const RECOVERY_MS = 5_000;

/** At most one "saving fails" error line per this interval; the rest are counted. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

export function createDiskMonitor(deps: DiskMonitorDeps): DiskMonitor {
  const { dataDir, watermarks, log, now } = deps;
  const statfs = deps.statfs ?? statfsSpace;
  const listeners = new Set<(status: DiskStatus) => void>();
  let space: DiskSpace = { freeBytes: Number.POSITIVE_INFINITY, totalBytes: Number.POSITIVE_INFINITY };
  let level: DiskLevel = 'ok';
  let notStored = 0;
  let failing: SaveFailure | undefined;
  let savedSinceFailure = 0;
  let failuresSinceLog = 0;
  let lastFailureLogAt = Number.NEGATIVE_INFINITY;

  const freePercent = () => (space.totalBytes > 0 && Number.isFinite(space.totalBytes) ? (100 * space.freeBytes) / space.totalBytes : 100);

  function levelAt(free: number): DiskLevel {
    if (free < watermarks.refuseImagesFreePercent) return 'refuse-images';
    if (free < watermarks.retentionFreePercent) return 'retention';
    if (free < watermarks.shedOkFreePercent) return 'shed-ok';
    if (free < watermarks.warnFreePercent) return 'warn';
    return 'ok';
  }

  /** A level is left upwards only HYSTERESIS_PERCENT above its watermark, so a disk hovering at one does not flap. */
  function levelNow(): DiskLevel {
    const next = levelAt(freePercent());
    if (LEVELS.indexOf(next) >= LEVELS.indexOf(level)) return next;
    const held = levelAt(freePercent() - HYSTERESIS_PERCENT);
    return LEVELS.indexOf(held) < LEVELS.indexOf(level) ? held : level;
  }

  const spaceText = () => `data dir ${freePercent().toFixed(1)}% free (${formatBytes(space.freeBytes)} of ${formatBytes(space.totalBytes)})`;
  const LEVEL_TEXT: Record<DiskLevel, string> = {
    ok: '',
    warn: `below the warn watermark (${watermarks.warnFreePercent}%)`,
    'shed-ok': `below ${watermarks.shedOkFreePercent}%: ok images are not kept`,
    retention: `below ${watermarks.retentionFreePercent}%: ok images are not kept, the oldest images are deleted early`,
    'refuse-images': `below ${watermarks.refuseImagesFreePercent}%: no images are kept, verdicts only`,
  };

  function status(): DiskStatus {
    const out: DiskStatus = { level, freeBytes: space.freeBytes, totalBytes: space.totalBytes, freePercent: Number(freePercent().toFixed(2)), notStored };
    const parts: string[] = [];
    if (failing) parts.push(`storing inspections fails: ${failing.code}: ${failing.message}`);
    if (level !== 'ok') parts.push(`${spaceText()}, ${LEVEL_TEXT[level]}`);
    if (parts.length > 0) out.reason = parts.join('; ');
    if (failing) out.saveFailure = { ...failing };
    return out;
  }

  function changed(): void {
    const s = status();
    for (const listener of listeners) {
      try {
        listener(s);
      } catch (err) {
        log.warn({ err }, 'disk status listener failed');
      }
    }
  }

  function check(): DiskStatus {
    try {
      space = statfs(dataDir);
    } catch (err) {
      log.warn({ err, dataDir }, 'cannot read the free space of the data dir');
      return status();
    }
    const next = levelNow();
    if (next !== level) {
      const worse = LEVELS.indexOf(next) > LEVELS.indexOf(level);
      level = next;
      const fields = { diskLevel: level, freeBytes: space.freeBytes, totalBytes: space.totalBytes, freePercent: Number(freePercent().toFixed(2)) };
      if (next === 'ok') log.info(fields, `data dir free space is back above the watermarks (${spaceText()})`);
      else (worse ? log.warn.bind(log) : log.info.bind(log))(fields, `${spaceText()}: ${LEVEL_TEXT[next]}`);
      changed();
    }
    return status();
  }

  return {
    check,
    status,
    saveFailed(err) {
      notStored += 1;
      failuresSinceLog += 1;
      const t = now();
      const wasFailing = failing !== undefined;
      failing = { code: rootCode(err) ?? 'UNKNOWN', message: rootMessage(err), at: t };
      savedSinceFailure = 0;
      if (t - lastFailureLogAt >= FAILURE_LOG_INTERVAL_MS) {
        log.error({ err, code: failing.code, notStored, failedSinceLastLog: failuresSinceLog }, `storing inspections fails: ${failing.code}: ${failing.message}`);
        lastFailureLogAt = t;
        failuresSinceLog = 0;
      }
      check();
      if (!wasFailing) changed();
    },
    saveSucceeded() {
      if (failing === undefined) return;
      savedSinceFailure += 1;
      if (savedSinceFailure < RECOVERY_SAVES || now() - failing.at < RECOVERY_MS) return;
      log.info({ notStored, failedFor: now() - failing.at }, 'storing inspections works again');
      failing = undefined;
      lastFailureLogAt = Number.NEGATIVE_INFINITY;
      changed();
    },
    bytesToFree() {
      if (!Number.isFinite(space.totalBytes)) return 0;
      const target = (watermarks.shedOkFreePercent / 100) * space.totalBytes;
      return Math.max(0, Math.ceil(target - space.freeBytes));
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * The disk as a pressure source of the sampling policy (src/line/sampling.ts, structurally:
 * the store does not import the line): ok images go below shedOkFreePercent, every image
 * below refuseImagesFreePercent or while saving fails.
 */
export function diskPressure(disk: DiskMonitor): { name: string; level(): 'none' | 'ok' | 'all'; reason(): string | undefined } {
  return {
    name: 'disk',
    level() {
      const s = disk.status();
      if (s.saveFailure !== undefined || s.level === 'refuse-images') return 'all';
      if (s.level === 'shed-ok' || s.level === 'retention') return 'ok';
      return 'none';
    },
    reason: () => disk.status().reason,
  };
}

/** The store's part of /healthz: degraded below the warn watermark, failing while inspections cannot be stored. */
export function diskHealth(disk: DiskMonitor): { ok: boolean; failing?: boolean } & DiskStatus {
  const s = disk.status();
  return { ...s, ok: s.level === 'ok' && s.saveFailure === undefined, ...(s.saveFailure ? { failing: true } : {}) };
}
