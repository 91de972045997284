// The SQLite file of the store: where it is and how it is opened (WAL, synced commits, migrated).
import Database from 'better-sqlite3';
import { StoreError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { applyMigrations, migrations } from './migrations.js';

export const DB_FILE = 'visor.db';
const BUSY_TIMEOUT_MS = 5000;

export function openDatabase(file: string, log: Logger, now: () => number): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') log.warn({ journalMode: mode }, 'SQLite could not switch to WAL; writes will be slower');
    // FULL: in WAL mode, NORMAL only syncs the WAL at checkpoints, so the last commits can
    // vanish on power loss. A defect must still be there after the line loses power, so every
    // commit is synced before save() returns.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Later modules (review server, exporters) may open the same file; wait instead of failing.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    applyMigrations(db, migrations, log, now);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof StoreError) throw err;
    const code = (err as { code?: unknown }).code;
    throw new StoreError(`cannot open database ${file}${typeof code === 'string' ? `: ${code}` : ''}: ${(err as Error).message}`, { cause: err });
  }
}
