// Prometheus metrics of the upload module, on the app's registry.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { UploadQueue } from './queue.js';

export interface UploadMetrics {
  uploaded: Counter<'kind'>;
  failed: Counter<'kind' | 'error'>;
  dropped: Counter<'reason'>;
  bytes: Counter;
  decisions: Counter<'camera' | 'reason'>;
  connected: Gauge;
}

export function createUploadMetrics(registry: Registry, queue: () => UploadQueue | undefined): UploadMetrics {
  new Gauge({
    name: 'visor_upload_queue_depth',
    help: 'Upload jobs waiting in the local queue, by kind (sample: image + sidecar; label: tags + sidecar after a review).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const depth = queue()?.depth();
      this.set({ kind: 'sample' }, depth?.samples ?? 0);
      this.set({ kind: 'label' }, depth?.labels ?? 0);
    },
  });
  return {
    uploaded: new Counter({ name: 'visor_upload_uploaded_total', help: 'Upload jobs completed, by kind.', labelNames: ['kind'], registers: [registry] }),
    failed: new Counter({ name: 'visor_upload_failed_total', help: 'Upload attempts that failed and will be retried, by kind and error.', labelNames: ['kind', 'error'], registers: [registry] }),
    dropped: new Counter({
      name: 'visor_upload_dropped_total',
      help: 'Samples that will never be uploaded, by reason (quota: image deleted by the disk quota; queue-full; inspection-gone; image-missing; no-image).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bytes: new Counter({ name: 'visor_upload_bytes_total', help: 'Bytes written to Blob Storage.', registers: [registry] }),
    decisions: new Counter({ name: 'visor_upload_decisions_total', help: 'Sampling decisions, by camera and reason.', labelNames: ['camera', 'reason'], registers: [registry] }),
    connected: new Gauge({ name: 'visor_upload_connected', help: '1 when the last Blob Storage request succeeded, 0 when it failed.', registers: [registry] }),
  };
}
