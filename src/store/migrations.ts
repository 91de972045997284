// Schema migrations. To change the schema, append an entry with the next version number;
// never edit or reorder one that has shipped (devices in the field have already applied it).
import type { Database } from 'better-sqlite3';
import { StoreError } from '../errors.js';
import type { Logger } from '../log.js';

export interface Migration {
  /** 1, 2, 3, … in order, no gaps. Stored in `PRAGMA user_version` and `schema_migrations`. */
  version: number;
  name: string;
  /** SQL to run, or a function for data migrations. Runs inside the migration's transaction. */
  up: string | ((db: Database) => void);
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'inspections',
    up: `
      CREATE TABLE inspections (
        id            TEXT PRIMARY KEY,            -- time-ordered (src/ids.ts): sorting by id is sorting by time
        camera_id     TEXT NOT NULL,
        frame_seq     INTEGER NOT NULL,
        captured_at   INTEGER NOT NULL,            -- epoch ms
        inferred_at   INTEGER NOT NULL,
        decided_at    INTEGER NOT NULL,
        verdict       TEXT NOT NULL CHECK (verdict IN ('ok', 'uncertain', 'defect')),
        score         REAL NOT NULL,
        classes       TEXT,                        -- JSON ClassScore[]
        boxes         TEXT,                        -- JSON Box[]
        model_name    TEXT NOT NULL,
        model_version TEXT NOT NULL,
        model_task    TEXT NOT NULL CHECK (model_task IN ('anomaly', 'classification', 'detection')),
        thresholds    TEXT NOT NULL,               -- JSON Thresholds
        timings       TEXT NOT NULL,               -- JSON StageTimings
        image_path    TEXT,                        -- relative to the data dir; NULL once retention removed the image
        overlay_path  TEXT,
        image_bytes   INTEGER NOT NULL DEFAULT 0,  -- size of image + overlay files, for the disk quota
        source_file   TEXT
      );
      -- Newest first overall is the primary key read backwards.
      CREATE INDEX inspections_camera ON inspections (camera_id, id);
      CREATE INDEX inspections_verdict ON inspections (verdict, id);
      -- Retention by age.
      CREATE INDEX inspections_captured ON inspections (captured_at);
      -- Quota: only rows that still hold images, oldest first, with their size (covers SUM(image_bytes)).
      CREATE INDEX inspections_images ON inspections (captured_at, id, image_bytes) WHERE image_bytes > 0;
    `,
  },
];

export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

/** Applies the pending migrations, each in its own IMMEDIATE transaction (so two processes opening at once cannot both apply one). */
export function applyMigrations(db: Database, list: readonly Migration[], log: Logger, now: () => number = Date.now): MigrationResult {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new StoreError(`migration list is out of order: entry ${i} has version ${m.version}, expected ${i + 1}`);
  });
  const latest = list.length;
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const currentVersion = (): number => db.pragma('user_version', { simple: true }) as number;
  const from = currentVersion();
  if (from > latest) {
    throw new StoreError(`database schema version ${from} is newer than this Visor understands (${latest}); refusing to open it (downgrade?)`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of list.slice(from)) {
    const apply = db.transaction(() => {
      if (currentVersion() >= m.version) return false; // another process got there first
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      record.run(m.version, m.name, now());
      // PRAGMA does not take bound parameters; version is an integer we checked above.
      db.pragma(`user_version = ${m.version}`);
      return true;
    });
    let didApply: boolean;
    try {
      didApply = apply.immediate();
    } catch (err) {
      throw new StoreError(`migration ${m.version} (${m.name}) failed`, { cause: err });
    }
    if (didApply) {
      applied.push(m.version);
      log.info({ version: m.version, name: m.name }, 'applied schema migration');
    }
  }
  return { from, to: currentVersion(), applied };
}
