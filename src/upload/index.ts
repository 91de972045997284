// Blob uploads of sample images for retraining: decisions of the sampling policy
// (src/line/sampling.ts, handed in as ctx.sampling), the durable
// queue (queue.ts), the worker (uploader.ts), verdicts flowing back as labels, and the
// dataset pull for ML teams (pull.ts, `visor dataset pull`).
import type { AppContext, Extension } from '../line/extension.js';
import type { ReviewEvent } from '../line/bus.js';
import { modelLabel, type SaveHook } from '../store/index.js';
import type { Inspection } from '../common/types.js';
import { containerFromConfig } from './blob.js';
import { createUploadMetrics } from './metrics.js';
import { createUploadQueue } from './queue.js';
import { createUploader, type UploaderState } from './uploader.js';

export { UploadError, blobBaseName, containerFromArgument, containerFromConfig } from './blob.js';
export { cameraPolicy, decide, type CameraPolicy, type Decision, type DecisionReason } from '../line/sampling.js';
export { createUploadQueue, type UploadQueue } from './queue.js';
export { pullDataset, type PullOptions, type PullResult } from './pull.js';

const HOUR_MS = 3_600_000;
/** At most one line per this interval for drops at enqueue time (a full queue would flood the log). */
const DROP_LOG_INTERVAL_MS = 60_000;

export interface UploadStatus extends UploaderState {
  queueDepth: number;
  oldestQueuedAt: number | null;
  container: string;
  auth: string;
}

export interface UploadExtension extends Extension {
  status(): UploadStatus;
}

export interface UploadExtensionOptions {
  now?: () => number;
}

/**
 * The upload extension, or undefined when upload.enabled is off. Missing or conflicting
 * credentials throw ConfigError (start-up stops); anything Blob Storage says at run time
 * is retried and shown in health, never fatal to the line.
 */
export function createUploadExtension(ctx: AppContext, options: UploadExtensionOptions = {}): UploadExtension | undefined {
  const config = ctx.config.upload;
  if (!config.enabled) return undefined;
  const log = ctx.log.child({ module: 'upload' });
  const now = options.now ?? Date.now;
  const target = containerFromConfig(config, { timeoutMs: config.requestTimeoutSeconds * 1000 });
  const queue = createUploadQueue(ctx.store.db);
  const metrics = createUploadMetrics(ctx.metrics.registry, () => queue);
  const uploader = createUploader({ config, cameras: ctx.config.cameras, store: ctx.store, target, queue, metrics, log, now });
  let policyFailures = 0;
  let lastDropLogAt = Number.NEGATIVE_INFINITY;

  function droppedAtEnqueue(inspectionId: string, reason: string): void {
    metrics.dropped.inc({ reason });
    const t = now();
    if (t - lastDropLogAt >= DROP_LOG_INTERVAL_MS) {
      lastDropLogAt = t;
      log.warn({ inspectionId, reason, maxQueueLength: config.maxQueueLength }, 'sample not queued for upload');
    }
  }

  // Runs inside the transaction that inserts the inspection. It must never make the save
  // fail (a defect is stored whatever happens to its upload), so it catches everything.
  const policyHook: SaveHook = (inspection) => {
    try {
      const t = now();
      const decision = ctx.sampling.decideUpload(inspection, queue.selectedSince(inspection.cameraId, t - HOUR_MS));
      let { selected, reason } = decision;
      if (selected && !queue.enqueue(inspection.id, 'sample', t, config.maxQueueLength)) {
        selected = false;
        reason = 'queue-full';
        droppedAtEnqueue(inspection.id, reason);
      }
      queue.recordDecision({ inspectionId: inspection.id, cameraId: inspection.cameraId, decidedAt: t, selected, reason });
      metrics.decisions.inc({ camera: inspection.cameraId, reason });
      if (selected) uploader.kick();
    } catch (err) {
      policyFailures += 1;
      log.error({ err, inspectionId: inspection.id }, 'upload policy failed; the inspection is stored without an upload decision');
    }
  };

  /** Selects an inspection the policy passed over (requested sample, review label). */
  function select(inspection: Inspection, override: 'requested' | 'review'): void {
    if (!inspection.imagePath) {
      droppedAtEnqueue(inspection.id, 'no-image');
      return;
    }
    const t = now();
    if (!queue.enqueue(inspection.id, 'sample', t, config.maxQueueLength)) {
      droppedAtEnqueue(inspection.id, 'queue-full');
      return;
    }
    queue.override({ inspectionId: inspection.id, cameraId: inspection.cameraId, at: t, override });
    metrics.decisions.inc({ camera: inspection.cameraId, reason: override });
  }

  function onRequested(inspection: Inspection): void {
    queue.transaction(() => {
      const decision = queue.decision(inspection.id);
      if (decision?.selected) return; // already queued by the policy
      select(inspection, 'requested');
    });
    uploader.kick();
  }

  function onReview(event: ReviewEvent): void {
    queue.transaction(() => {
      const inspection = ctx.store.get(event.inspectionId);
      if (!inspection) {
        log.warn({ inspectionId: event.inspectionId }, 'review of an unknown inspection; nothing to upload');
        return;
      }
      // Queued and not yet uploaded: the sample job reads the current label when it runs
      // (enqueue makes it run again if it is in flight right now).
      if (queue.pending(inspection.id, 'sample')) {
        queue.enqueue(inspection.id, 'sample', now(), Number.MAX_SAFE_INTEGER);
        return;
      }
      if (queue.decision(inspection.id)?.uploadedAt != null) {
        queue.enqueue(inspection.id, 'label', now(), Number.MAX_SAFE_INTEGER);
        return;
      }
      // Not uploaded: a verdict that disagrees with the model (a defect rejected as good, a
      // missed defect, another class) is the most useful example there is.
      const label = ctx.store.reviews.currentLabel(inspection);
      if (label.reviewed && label.label !== modelLabel(inspection.verdict)) select(inspection, 'review');
    });
    uploader.kick();
  }

  const unsubscribe: (() => void)[] = [];
  let started: number | undefined;
  const extension: UploadExtension = {
    name: 'upload',
    async start() {
      unsubscribe.push(ctx.store.onSave(policyHook));
      unsubscribe.push(
        ctx.bus.on('inspection', ({ inspection, requested }) => {
          if (requested) onRequested(inspection);
        }),
      );
      unsubscribe.push(ctx.bus.on('review', onReview));
      ctx.health.add('upload', () => {
        const s = extension.status();
        const t = Date.now();
        const seconds = (at: number | null | undefined) => (at === undefined || at === null ? null : Math.round((t - at) / 1000));
        const boundMs = config.degradedQueueAgeSeconds * 1000;
        const problems: string[] = [];
        if (s.connected === false) problems.push(`Blob Storage: ${s.lastError ?? 'not reachable'}`);
        if (policyFailures > 0) problems.push(`${policyFailures} sampling decisions failed`);
        const startedAt = started ?? t;
        if (s.oldestQueuedAt !== undefined && s.oldestQueuedAt !== null && t - s.oldestQueuedAt > boundMs && t - (s.lastUploadAt ?? startedAt) > boundMs)
          problems.push(`the oldest sample has waited ${seconds(s.oldestQueuedAt)} s and nothing was uploaded for ${seconds(s.lastUploadAt ?? startedAt)} s`);
        return {
          ok: problems.length === 0,
          ...(problems.length > 0 ? { reason: problems.join('; ') } : {}),
          connected: s.connected ?? null,
          lastSuccessAgeSeconds: seconds(s.lastUploadAt),
          oldestPendingAgeSeconds: seconds(s.oldestQueuedAt),
          queueDepth: s.queueDepth,
          oldestQueuedAt: s.oldestQueuedAt,
          uploaded: s.uploaded,
          lastUploadAt: s.lastUploadAt ?? null,
          lastError: s.lastError ?? null,
          lastErrorCode: s.lastErrorCode ?? null,
          lastErrorAt: s.lastErrorAt ?? null,
          policyFailures,
          container: s.container,
        };
      });
      started = Date.now();
      uploader.start();
      const depth = queue.depth();
      log.info({ container: target.name, auth: target.auth, line: config.line, queued: depth.total }, 'upload started');
    },
    async stop() {
      for (const off of unsubscribe.splice(0)) off();
      await uploader.stop();
      log.info({ queued: queue.depth().total, uploaded: uploader.state().uploaded }, 'upload stopped');
    },
    status() {
      const depth = queue.depth();
      return { ...uploader.state(), queueDepth: depth.total, oldestQueuedAt: depth.oldestEnqueuedAt, container: target.name, auth: target.auth };
    },
  };
  return extension;
}
