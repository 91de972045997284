// Schema migrations. To change the schema, add an entry with a new version number; never
// edit one that has shipped (devices in the field have already applied it). Versions need
// not be contiguous: each module has its own range (core 1–99, events 100–199, upload
// 200–299, review 300–399, stations 400–499, learning 500–599), so modules can add tables independently. Pending migrations run
// in ascending version order.
import type { Database } from 'better-sqlite3';
import { StoreError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Migration } from './schema/migration.js';
import { eventsMigrations } from './schema/events.js';
import { reviewMigrations } from './schema/review.js';
import { uploadMigrations } from './schema/upload.js';
import { stationMigrations } from './schema/stations.js';
import { learningMigrations } from './schema/learning.js';


const coreMigrations: readonly Migration[] = [
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
  {
    version: 2,
    name: 'inspections record a shed image',
    up: `
      -- Why an image that would have been kept is not ("disk: data dir 3% free", "store: ENOSPC"):
      -- the verdict is stored and the image's absence has a reason.
      ALTER TABLE inspections ADD COLUMN image_shed TEXT;
    `,
  },
  {
    // What an overlay is drawn from (src/store/rows.ts OverlayData: the heat map as data and its
    // placement), kept with the image: overlays are rendered when someone looks. Rows stored
    // before keep their overlay_path file.
    version: 3,
    name: 'inspection overlay data',
    up: `ALTER TABLE inspections ADD COLUMN overlay_data TEXT;`,
  },
];

/** Every table of the database: the core's, then each module's own range. */
export const migrations: readonly Migration[] = [...coreMigrations, ...eventsMigrations, ...uploadMigrations, ...reviewMigrations, ...stationMigrations, ...learningMigrations];

export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

/** Applies the pending migrations, each in its own IMMEDIATE transaction (so two processes opening at once cannot both apply one). */
export function applyMigrations(db: Database, list: readonly Migration[], log: Logger, now: () => number = Date.now): MigrationResult {
  const ordered = [...list].sort((a, b) => a.version - b.version);
  ordered.forEach((m, i) => {
    if (!Number.isInteger(m.version) || m.version < 1) throw new StoreError(`migration ${m.name} has an invalid version ${m.version}`);
    if (i > 0 && ordered[i - 1]!.version === m.version) throw new StoreError(`migrations ${ordered[i - 1]!.name} and ${m.name} share version ${m.version}`);
  });
  const latest = ordered.at(-1)?.version ?? 0;
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const currentVersion = (): number => db.pragma('user_version', { simple: true }) as number;
  const from = currentVersion();
  const known = new Set(ordered.map((m) => m.version));
  const unknown = (db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]).filter((v) => !known.has(v));
  if (from > latest || unknown.length > 0) {
    throw new StoreError(
      `database schema (version ${Math.max(from, ...unknown)}) is newer than this Visor understands (${latest}); refusing to open it (downgrade?)`,
    );
  }
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of ordered) {
    const apply = db.transaction(() => {
      if (isApplied.get(m.version) !== undefined) return false; // applied before, or by another process just now
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      record.run(m.version, m.name, now());
      // PRAGMA does not take bound parameters; version is an integer we checked above.
      if (m.version > currentVersion()) db.pragma(`user_version = ${m.version}`);
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

export type { Migration };
