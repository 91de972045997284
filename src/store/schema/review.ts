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
];
