// Tables of src/upload (versions 200–299).
import type { Migration } from './migration.js';

export const uploadMigrations: readonly Migration[] = [
  {
    version: 200,
    name: 'upload decisions and queue',
    up: `
      -- Why each inspection was or was not uploaded: one row per inspection, written in the
      -- transaction that inserts the inspection (store.onSave).
      CREATE TABLE upload_decisions (
        inspection_id TEXT PRIMARY KEY REFERENCES inspections (id) ON DELETE CASCADE,
        camera_id     TEXT NOT NULL,
        decided_at    INTEGER NOT NULL,            -- epoch ms
        selected      INTEGER NOT NULL CHECK (selected IN (0, 1)),
        reason        TEXT NOT NULL,               -- the sampling policy's reason (defect, uncertain, ok-sampled, ok-not-sampled, hourly-cap, …)
        override      TEXT,                        -- set when a frame the policy passed over was selected later: requested, review
        uploaded_at   INTEGER,                     -- when the image and sidecar were last written to Blob Storage
        blob_name     TEXT
      );
      -- The hourly cap counts the policy's own selections per camera.
      CREATE INDEX upload_decisions_cap ON upload_decisions (camera_id, decided_at) WHERE selected = 1 AND override IS NULL;

      -- Durable work: 'sample' writes image + sidecar + tags, 'label' rewrites tags + sidecar
      -- after a review. One job per (inspection, kind); a new reason to run bumps generation,
      -- so a job that was in flight when it changed runs again instead of being deleted.
      CREATE TABLE upload_queue (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        inspection_id   TEXT NOT NULL REFERENCES inspections (id) ON DELETE CASCADE,
        kind            TEXT NOT NULL CHECK (kind IN ('sample', 'label')),
        enqueued_at     INTEGER NOT NULL,
        generation      INTEGER NOT NULL DEFAULT 0,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        UNIQUE (inspection_id, kind)
      );
      CREATE INDEX upload_queue_due ON upload_queue (next_attempt_at, id);
    `,
  },
];
