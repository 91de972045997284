// Tables of src/learning (versions 500–599): shadow scores, candidates, promotions and rollbacks.
import type { Migration } from './migration.js';

export const learningMigrations: readonly Migration[] = [
  {
    version: 500,
    name: 'learning: shadow scores, candidates, model changes',
    up: `
      -- What a candidate model said about an inspected frame while it ran beside the live model.
      -- Never read by the verdict, events or uploads: only by the comparison and the queue's
      -- disagreement filter.
      CREATE TABLE shadow_scores (
        inspection_id TEXT NOT NULL REFERENCES inspections (id) ON DELETE CASCADE,
        candidate     TEXT NOT NULL,                 -- the candidate's version
        score         REAL NOT NULL,
        verdict       TEXT NOT NULL CHECK (verdict IN ('ok', 'uncertain', 'defect')),
        -- 'live-ok' (live ok, candidate defect) or 'live-defect' (the reverse); NULL when they agree
        disagreement  TEXT CHECK (disagreement IN ('live-ok', 'live-defect')),
        scored_at     INTEGER NOT NULL,              -- epoch ms
        inference_ms  REAL NOT NULL,
        PRIMARY KEY (inspection_id, candidate)
      ) WITHOUT ROWID;
      CREATE INDEX shadow_scores_candidate ON shadow_scores (candidate, inspection_id);
      CREATE INDEX shadow_scores_disagreement ON shadow_scores (inspection_id, disagreement) WHERE disagreement IS NOT NULL;

      -- Candidate packages: fitted on the device from reviewed verdicts, or named in the config.
      CREATE TABLE learning_candidates (
        version     TEXT PRIMARY KEY,
        dir         TEXT NOT NULL,                   -- the package folder
        status      TEXT NOT NULL CHECK (status IN ('fitting', 'ready', 'failed', 'promoted', 'retired')),
        source      TEXT NOT NULL,                   -- who or what asked for it ('review:alice', 'rule', 'config')
        created_at  INTEGER NOT NULL,
        finished_at INTEGER,
        error       TEXT,
        dataset     TEXT,                            -- JSON: the images it was fitted on (the dataset manifest)
        fleet       TEXT                             -- JSON: where it was uploaded
      );

      -- Every promotion and rollback, in order (the audit trail, never updated). The newest row
      -- says which package is live; a rollback goes back to its from_dir.
      CREATE TABLE learning_changes (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at           INTEGER NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
        user         TEXT NOT NULL,                  -- a reviewer's name, or 'auto'
        from_version TEXT NOT NULL,
        from_dir     TEXT NOT NULL,
        to_version   TEXT NOT NULL,
        to_dir       TEXT NOT NULL,
        comparison   TEXT                            -- JSON: the comparison the promotion rested on
      );
    `,
  },
];
