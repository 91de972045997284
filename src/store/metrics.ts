// The store's Prometheus metrics, read from the store at scrape time (one source of truth).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DiskMonitor } from './disk.js';

/** `store` is the Store (src/store/index.ts), named by the parts read here. */
export function registerStoreMetrics(registry: Registry, store: { disk: DiskMonitor; stats(): { imageWriteErrors: number } }): void {
  new Gauge({
    name: 'visor_store_free_bytes',
    help: "Free bytes on the data dir's file system (what store.diskWatermarks compare against).",
    registers: [registry],
    collect() {
      const s = store.disk.check();
      if (Number.isFinite(s.freeBytes)) this.set(s.freeBytes);
    },
  });
  new Counter({
    name: 'visor_store_inspections_not_stored_total',
    help: 'Inspections whose row could not be written (full disk, I/O error): their verdicts are lost; the log names the cause.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.disk.status().notStored);
    },
  });
  new Counter({
    name: 'visor_store_image_write_failures_total',
    help: 'Image or overlay files that could not be written; their inspections are stored without them and name why.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats().imageWriteErrors);
    },
  });
}
