// Tables of src/stations (versions 400–499): part inspections, their views, recipe changes.
import type { Migration } from './migration.js';

export const stationMigrations: readonly Migration[] = [
  {
    version: 400,
    name: 'part inspections',
    up: `
      -- One row per trigger: what the PLC was told (verdict, result_code, result_at) and what the
      -- views said once they were all in (views_verdict, completed_at), later than the result when late.
      CREATE TABLE parts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        part_id       TEXT NOT NULL,                 -- serial number, barcode text or counter, as the trigger gave it
        station_id    TEXT NOT NULL,
        source        TEXT NOT NULL,                 -- what triggered it: http, opcua, modbus, mqtt
        triggered_at  INTEGER NOT NULL,              -- epoch ms
        deadline_at   INTEGER NOT NULL,
        recipe        INTEGER,                       -- recipe index in force, NULL without recipes
        verdict       TEXT CHECK (verdict IN ('ok', 'ng')),
        result_code   INTEGER,
        result_at     INTEGER,
        late          INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),  -- 1: the deadline passed before the views were in
        views_verdict TEXT CHECK (views_verdict IN ('ok', 'uncertain', 'defect')),
        completed_at  INTEGER
      );
      CREATE INDEX parts_part ON parts (part_id, id);
      CREATE INDEX parts_station ON parts (station_id, id);
      CREATE INDEX parts_triggered ON parts (triggered_at);
      -- The inspection each camera of the station contributed; goes with the inspection (retention).
      CREATE TABLE part_views (
        part          INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        camera_id     TEXT NOT NULL,
        inspection_id TEXT NOT NULL REFERENCES inspections (id) ON DELETE CASCADE,
        PRIMARY KEY (part, camera_id)
      );
      CREATE INDEX part_views_inspection ON part_views (inspection_id);
      -- Audit of recipe switches.
      CREATE TABLE recipe_changes (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        station_id  TEXT NOT NULL,
        from_index  INTEGER,
        to_index    INTEGER NOT NULL,
        source      TEXT NOT NULL,                   -- who asked: opcua, modbus, mqtt, api:<user>, config
        changed_at  INTEGER NOT NULL
      );
      CREATE INDEX recipe_changes_station ON recipe_changes (station_id, id);
    `,
  },
];
