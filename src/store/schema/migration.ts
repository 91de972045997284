import type { Database } from 'better-sqlite3';

export interface Migration {
  /** Unique; in the owning module's range. Recorded in `schema_migrations`; the highest applied one in `PRAGMA user_version`. */
  version: number;
  name: string;
  /** SQL to run, or a function for data migrations. Runs inside the migration's transaction. */
  up: string | ((db: Database) => void);
}
