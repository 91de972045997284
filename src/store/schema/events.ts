// Tables of src/events (versions 100–199).
import type { Migration } from './migration.js';

export const eventsMigrations: readonly Migration[] = [
  {
    version: 100,
    name: 'events_outbox',
    up: `
      -- Events not yet acknowledged by IoT Hub (or written to the local sink). A row is
      -- inserted in the transaction that stores its inspection and deleted once the hub
      -- acknowledged it, so what is here survives crash, SIGKILL and reboot. The body is
      -- self-contained: retention may delete the inspection before the event is sent.
      -- No foreign key to inspections for the same reason.
      CREATE TABLE events_outbox (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- send order (per camera and overall)
        inspection_id TEXT NOT NULL UNIQUE,               -- the message id
        camera_id     TEXT NOT NULL,
        event_type    TEXT NOT NULL,                      -- 'defect' | 'uncertain'
        created_at    INTEGER NOT NULL,                   -- epoch ms, for the age bound
        body          TEXT NOT NULL                       -- JSON message body
      );
      CREATE INDEX events_outbox_created ON events_outbox (created_at);

      -- Counters that must survive restarts (events dropped by the outbox bounds).
      CREATE TABLE events_counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
    `,
  },
];
