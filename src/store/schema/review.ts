// Tables of src/review (versions 300–399).
import type { Migration } from './migration.js';

export const reviewMigrations: readonly Migration[] = [
  {
    version: 300,
    name: 'reviews',
    up: `
      -- Every verdict a reviewer gives, in order; the latest row per inspection is its current label.
      -- Rows are never updated: undo is a new row with decision 'undone'. This is the audit trail.
      CREATE TABLE reviews (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        inspection_id TEXT NOT NULL REFERENCES inspections (id) ON DELETE CASCADE,
        decision      TEXT NOT NULL CHECK (decision IN ('confirmed', 'rejected', 'relabeled', 'needs-expert', 'undone')),
        label         TEXT,              -- resulting label: 'defect', 'good' or a class name; NULL for needs-expert and undone
        user          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,  -- epoch ms
        note          TEXT
      );
      CREATE INDEX reviews_inspection ON reviews (inspection_id, id);
      CREATE INDEX reviews_created ON reviews (created_at);
    `,
  },
  {
    version: 301,
    name: 'review users and sessions',
    up: `
      CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role          TEXT NOT NULL CHECK (role IN ('operator', 'engineer', 'admin')),
        password_hash TEXT NOT NULL,      -- scrypt$N$r$p$salt$hash (src/review/passwords.ts)
        created_at    INTEGER NOT NULL,
        disabled_at   INTEGER
      );
      -- Only a hash of the cookie value is stored: a copy of the database does not sign anyone in.
      CREATE TABLE sessions (
        token_hash  TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      CREATE INDEX sessions_expires ON sessions (expires_at);
      CREATE TABLE api_tokens (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        label        TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER
      );
    `,
  },
  {
    version: 302,
    name: 'review audit and settings',
    up: `
      -- Who changed what, when: thresholds, users, tokens. Never updated or deleted by the app.
      CREATE TABLE audit (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        user    TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT,
        detail  TEXT                      -- JSON
      );
      CREATE INDEX audit_at ON audit (at);
      -- Settings changed in the UI that must survive a restart (e.g. thresholds per camera).
      CREATE TABLE review_settings (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,         -- JSON
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      );
    `,
  },
  {
    version: 303,
    name: 'review queue state and indexes',
    up: `
      -- The current review of each inspection (top of its reviews, undo popping), kept in the
      -- same transaction as the reviews rows so the queue can filter by review state with a join.
      CREATE TABLE review_state (
        inspection_id TEXT PRIMARY KEY REFERENCES inspections (id) ON DELETE CASCADE,
        decision      TEXT NOT NULL,
        label         TEXT,
        user          TEXT NOT NULL,
        at            INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- The queue: flagged inspections newest first, optionally per camera, with the score for range filters.
      CREATE INDEX inspections_flagged ON inspections (id, score) WHERE verdict <> 'ok';
      CREATE INDEX inspections_flagged_camera ON inspections (camera_id, id, score) WHERE verdict <> 'ok';
    `,
  },
  {
    version: 304,
    name: 'review state keeps the note',
    up: `
      -- The note of the verdict in force, so every reader of the current review (uploads'
      -- sidecars, the queue) gets it from review_state (src/store/reviews.ts), not from a replay of its own.
      ALTER TABLE review_state ADD COLUMN note TEXT;
      UPDATE review_state SET note = (
        SELECT r.note FROM reviews r
         WHERE r.inspection_id = review_state.inspection_id AND r.decision = review_state.decision
           AND r.user = review_state.user AND r.created_at = review_state.at
         ORDER BY r.id DESC LIMIT 1
      );
    `,
  },
];
