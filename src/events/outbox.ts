// The durable outbox: SQLite rows written in the transaction that stores the inspection,
// deleted once the hub acknowledged them. Bounded by count and age; what the bounds drop
// is counted (persistently), never silent.
import type { Database } from 'better-sqlite3';
import type { Inspection } from '../common/types.js';
import type { ModelChangeEvent } from '../line/bus.js';
import { createParts } from '../store/parts.js';
import { eventTypeOf, inspectionBody, MODEL_CHANGE_SCHEMA, routingProperties, type OutgoingEvent } from './message.js';

export interface OutboxRow {
  seq: number;
  inspection_id: string;
  /** '' for events of no camera (a model change). */
  camera_id: string;
  event_type: 'defect' | 'uncertain' | 'model';
  created_at: number;
  body: string;
}

export interface DropCounts {
  /** Dropped because the outbox held `maxMessages` undelivered events. */
  overflow: number;
  /** Dropped because they waited longer than `maxAgeMs`. */
  age: number;
}

export interface OutboxDeps {
  db: Database;
  maxMessages: number;
  maxAgeMs: number;
  /** Read at every save, so the twin can switch it at runtime. */
  sendUncertain: () => boolean;
  /** Called after events were dropped (inside or outside a transaction; must not throw). */
  onDrop?: (reason: keyof DropCounts, count: number) => void;
  now?: () => number;
}

export interface Outbox {
  /** The store's save hook: queues the inspection's event in the same transaction. */
  enqueue(inspection: Inspection): void;
  /** Queues a promotion or rollback of the live model (eventType model), behind the inspections before it. */
  enqueueModelChange(change: ModelChangeEvent): void;
  /** Undelivered rows after `afterSeq`, oldest first. */
  pending(afterSeq: number, limit: number): OutboxRow[];
  /** Deletes acknowledged rows (one transaction). */
  ack(seqs: readonly number[]): void;
  /** Drops rows older than the age bound; returns how many. */
  prune(): number;
  depth(): number;
  oldestCreatedAt(): number | undefined;
  dropped(): DropCounts;
}

/** The message for an outbox row; the routing properties that live in the body (model version, part id) are read from it once. */
export function toOutgoing(row: Pick<OutboxRow, 'inspection_id' | 'camera_id' | 'event_type' | 'body'>): OutgoingEvent {
  const { model, partId } = JSON.parse(row.body) as { model: { version: string }; partId?: string };
  return { messageId: row.inspection_id, body: row.body, properties: routingProperties(row.event_type, row.camera_id || undefined, model.version, partId) };
}

export function createOutbox(deps: OutboxDeps): Outbox {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const parts = createParts(db);
  const insert = db.prepare<[string, string, string, number, string]>(
    'INSERT OR IGNORE INTO events_outbox (inspection_id, camera_id, event_type, created_at, body) VALUES (?, ?, ?, ?, ?)',
  );
  const countRows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM events_outbox');
  const selectPending = db.prepare<[number, number], OutboxRow>('SELECT * FROM events_outbox WHERE seq > ? ORDER BY seq LIMIT ?');
  const deleteSeq = db.prepare<[number]>('DELETE FROM events_outbox WHERE seq = ?');
  const deleteOldest = db.prepare<[number]>('DELETE FROM events_outbox WHERE seq IN (SELECT seq FROM events_outbox ORDER BY seq LIMIT ?)');
  const deleteOlderThan = db.prepare<[number]>('DELETE FROM events_outbox WHERE created_at < ?');
  const oldest = db.prepare<[], { created_at: number }>('SELECT created_at FROM events_outbox ORDER BY seq LIMIT 1');
  const readCounter = db.prepare<[string], { value: number }>('SELECT value FROM events_counters WHERE name = ?');
  const addCounter = db.prepare<[string, number]>(
    'INSERT INTO events_counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
  );
  const ackAll = db.transaction((seqs: readonly number[]) => {
    let removed = 0;
    for (const seq of seqs) removed += deleteSeq.run(seq).changes;
    return removed;
  });

  // COUNT(*) walks the table; a running count keeps the per-save bound check O(1).
  let depth = countRows.get()!.n;
  const dropped: DropCounts = { overflow: readCounter.get('dropped_overflow')?.value ?? 0, age: readCounter.get('dropped_age')?.value ?? 0 };

  function drop(reason: keyof DropCounts, count: number): void {
    if (count <= 0) return;
    addCounter.run(`dropped_${reason}`, count);
    dropped[reason] += count;
    deps.onDrop?.(reason, count);
  }

  function add(messageId: string, cameraId: string, eventType: OutboxRow['event_type'], body: string): void {
    depth += insert.run(messageId, cameraId, eventType, now(), body).changes;
    if (depth > deps.maxMessages) {
      // Oldest first: the newest defects say most about the line as it is now.
      const removed = deleteOldest.run(depth - deps.maxMessages).changes;
      depth -= removed;
      drop('overflow', removed);
    }
  }

  return {
    enqueue(inspection) {
      const eventType = eventTypeOf(inspection, deps.sendUncertain());
      if (eventType === undefined) return;
      // A station's save hook ran first in this transaction: the view is already linked to its part.
      add(inspection.id, inspection.cameraId, eventType, JSON.stringify(inspectionBody(inspection, eventType, parts.partOfInspection(inspection.id)?.partId)));
    },
    enqueueModelChange(change) {
      // `model` names the model in force after the change, as every event's body does (the routing property modelVersion).
      const body = { schema: MODEL_CHANGE_SCHEMA, eventType: 'model', action: change.action, at: new Date(change.at).toISOString(), user: change.user, from: change.from, to: change.to, model: change.to, ...(change.comparison ? { comparison: change.comparison } : {}) };
      add(`model-${change.action}-${change.at}-${change.to.version}`, '', 'model', JSON.stringify(body));
    },
    pending(afterSeq, limit) {
      return selectPending.all(afterSeq, limit);
    },
    ack(seqs) {
      if (seqs.length === 0) return;
      depth = Math.max(0, depth - ackAll(seqs));
    },
    prune() {
      const removed = db.transaction(() => {
        const n = deleteOlderThan.run(now() - deps.maxAgeMs).changes;
        drop('age', n);
        return n;
      })();
      // Resynchronise the running count (a rolled-back save may have left it one off).
      depth = countRows.get()!.n;
      return removed;
    },
    depth: () => depth,
    oldestCreatedAt: () => oldest.get()?.created_at,
    dropped: () => ({ ...dropped }),
  };
}

export type { OutgoingEvent };
