// The upload worker: takes due jobs from the durable queue and writes them to Blob Storage.
// Retries with exponential backoff and jitter; while Blob Storage is failing, one job at a
// time probes it, and when it answers again every waiting job becomes due at once.
import { readFile } from 'node:fs/promises';
import { backoffDelay } from '../common/backoff.js';
import type { CameraConfig, UploadConfig } from '../config/schema.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { CurrentLabel, Store } from '../store/index.js';
import { createParts } from '../store/parts.js';
import { UploadError, blobBaseName, toUploadError, type ContainerTarget } from './blob.js';
import type { UploadMetrics } from './metrics.js';
import type { Job, UploadQueue } from './queue.js';
import { blobMetadata, blobTags, buildSidecar } from './record.js';
import type { Inspection } from '../common/types.js';

/** How long stop() lets in-flight uploads finish before aborting them (they stay queued). */
export const STOP_GRACE_MS = 5000;
/** Upper bound on an idle wait, so nothing depends on a wake-up being delivered. */
const IDLE_POLL_MS = 1000;

export interface UploaderDeps {
  config: UploadConfig;
  cameras: readonly CameraConfig[];
  store: Store;
  target: ContainerTarget;
  queue: UploadQueue;
  metrics: UploadMetrics;
  log: Logger;
  now?: () => number;
  random?: () => number;
}

export interface UploaderState {
  /** undefined until the first request answered or failed. */
  connected: boolean | undefined;
  lastError: string | undefined;
  lastErrorCode: string | undefined;
  lastErrorAt: number | undefined;
  lastUploadAt: number | undefined;
  uploaded: number;
  consecutiveFailures: number;
}

export interface Uploader {
  start(): void;
  /** Finishes (or after STOP_GRACE_MS aborts) in-flight jobs; what is not done stays queued. */
  stop(): Promise<void>;
  /** New work or a changed job: look at the queue now. */
  kick(): void;
  state(): UploaderState;
}

/** Paces uploads to an average rate by delaying each transfer's start. */
function createRateLimiter(kbps: number, now: () => number): (bytes: number, signal: AbortSignal) => Promise<void> {
  let nextFree = 0;
  return async (bytes, signal) => {
    if (kbps <= 0) return;
    const t = now();
    const start = Math.max(t, nextFree);
    nextFree = start + (bytes * 8) / kbps; // kbit/s = bit/ms
    if (start > t) await abortableSleep(start - t, signal);
  };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A job that cannot succeed (its inspection or image is gone): dropped, counted, logged. */
class DropJob extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export function createUploader(deps: UploaderDeps): Uploader {
  const { config, store, target, queue, metrics, log } = deps;
  const parts = createParts(store.db);
  const partOf = (inspectionId: string) => {
    const part = parts.partOfInspection(inspectionId);
    return part && { partId: part.partId, stationId: part.stationId };
  };
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const cameras = new Map(deps.cameras.map((c) => [c.id, c]));
  const policy = { initialMs: config.backoffInitialMs, maxMs: config.backoffMaxMs };
  const limit = createRateLimiter(config.maxKbps, now);
  const state: UploaderState = {
    connected: undefined,
    lastError: undefined,
    lastErrorCode: undefined,
    lastErrorAt: undefined,
    lastUploadAt: undefined,
    uploaded: 0,
    consecutiveFailures: 0,
  };
  const inFlight = new Map<number, { promise: Promise<void>; abort: AbortController }>();
  let containerReady = false;
  let pausedUntil = 0;
  let stopping = false;
  let loopDone: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  function kick(): void {
    wake?.();
  }

  function waitForKick(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  }

  async function ensureContainer(signal: AbortSignal): Promise<void> {
    if (containerReady || !(target.canCreate && config.createContainer)) return;
    try {
      const created = await target.client.createIfNotExists({ abortSignal: signal });
      if (created.succeeded) log.info({ container: target.name }, 'created the upload container');
      containerReady = true;
    } catch (err) {
      throw toUploadError(err, `create container ${target.name}`);
    }
  }

  async function put(name: string, body: Buffer, contentType: string, metadata: Record<string, string>, tags: Record<string, string>, signal: AbortSignal): Promise<void> {
    await limit(body.length, signal);
    try {
      await target.client.getBlockBlobClient(name).uploadData(body, { blobHTTPHeaders: { blobContentType: contentType }, metadata, tags, abortSignal: signal });
    } catch (err) {
      throw toUploadError(err, `upload ${name}`);
    }
    metrics.bytes.inc(body.length);
  }

  async function runSample(job: Job, signal: AbortSignal): Promise<void> {
    const inspection = store.get(job.inspectionId);
    if (!inspection) throw new DropJob('inspection-gone', 'the inspection was deleted before it was uploaded');
    // Retention's quota pass is the only thing that removes an image waiting for upload.
    if (!inspection.imagePath) throw new DropJob('quota', 'the image was deleted by the disk quota before it was uploaded');
    let image: Buffer;
    try {
      image = await readFile(store.imageFile(inspection.imagePath));
    } catch (err) {
      throw new DropJob('image-missing', `the image file cannot be read: ${errorMessage(err)}`);
    }
    await ensureContainer(signal);
    const base = blobBaseName(config.line, inspection.cameraId, inspection.capturedAt, inspection.id);
    const label = store.reviews.currentLabel(inspection);
    await put(`${base}.jpg`, image, 'image/jpeg', blobMetadata(config.line, inspection), blobTags(config.line, inspection, label, 'image'), signal);
    await putSidecar(inspection, base, label, image.length, signal);
    queue.transaction(() => {
      queue.markUploaded(inspection.id, `${base}.jpg`, now());
      queue.complete(job);
    });
  }

  /** Writes the JSON sidecar (full record, current label, upload decision) beside the image blob. */
  async function putSidecar(inspection: Inspection, base: string, label: CurrentLabel, imageBytes: number, signal: AbortSignal): Promise<void> {
    const decision = queue.decision(inspection.id);
    const sidecar = buildSidecar({
      line: config.line,
      inspection,
      label,
      camera: cameras.get(inspection.cameraId),
      decision: decision && { reason: decision.reason, override: decision.override, decidedAt: decision.decidedAt },
      image: { blob: `${base}.jpg`, bytes: imageBytes },
      part: partOf(inspection.id),
    });
    await put(`${base}.json`, Buffer.from(JSON.stringify(sidecar, null, 2)), 'application/json', blobMetadata(config.line, inspection), blobTags(config.line, inspection, label, 'sidecar'), signal);
  }

  async function runLabel(job: Job, signal: AbortSignal): Promise<void> {
    const inspection = store.get(job.inspectionId);
    if (!inspection) throw new DropJob('inspection-gone', 'the inspection was deleted before its label was updated');
    const base = blobBaseName(config.line, inspection.cameraId, inspection.capturedAt, inspection.id);
    const label = store.reviews.currentLabel(inspection);
    const imageBlob = target.client.getBlockBlobClient(`${base}.jpg`);
    let bytes: number;
    try {
      bytes = (await imageBlob.getProperties({ abortSignal: signal })).contentLength ?? 0;
      await limit(512, signal);
      await imageBlob.setTags(blobTags(config.line, inspection, label, 'image'), { abortSignal: signal });
    } catch (err) {
      const e = toUploadError(err, `update tags of ${base}.jpg`);
      if (e.kind !== 'not-found') throw e;
      // The image is not there (deleted by someone): upload it whole again if we still have it.
      queue.transaction(() => {
        if (inspection.imagePath) queue.enqueue(inspection.id, 'sample', now(), Number.MAX_SAFE_INTEGER);
        queue.complete(job);
      });
      return;
    }
    await putSidecar(inspection, base, label, bytes, signal);
    queue.complete(job);
  }

  function succeeded(job: Job): void {
    state.uploaded += 1;
    state.lastUploadAt = now();
    metrics.uploaded.inc({ kind: job.kind });
    if (state.connected !== true) {
      if (state.consecutiveFailures > 0) {
        const woken = queue.wakeAll(now());
        log.info({ afterFailures: state.consecutiveFailures, jobsWoken: woken }, 'Blob Storage answers again; draining the upload queue');
      }
      state.connected = true;
    }
    state.consecutiveFailures = 0;
    // Health shows what is wrong now; the error of an outage that is over is in the log.
    state.lastError = undefined;
    state.lastErrorCode = undefined;
    state.lastErrorAt = undefined;
    pausedUntil = 0;
    metrics.connected.set(1);
  }

  function failed(job: Job, err: UploadError): void {
    state.consecutiveFailures += 1;
    state.connected = false;
    state.lastError = err.message;
    state.lastErrorCode = err.code;
    state.lastErrorAt = now();
    metrics.failed.inc({ kind: job.kind, error: err.kind });
    metrics.connected.set(0);
    if (err.kind === 'container-missing') containerReady = false;
    const delay = backoffDelay(state.consecutiveFailures, policy, random);
    pausedUntil = now() + delay;
    queue.retryLater(job, err.message, now() + backoffDelay(job.attempts + 1, policy, random));
    // Log the first failure of a streak and then every 10th, not every retry of an outage.
    if (state.consecutiveFailures === 1 || state.consecutiveFailures % 10 === 0) {
      const hint = err.kind === 'container-missing' && !(target.canCreate && config.createContainer) ? ' (upload.createContainer is off or the credentials cannot create it)' : '';
      log.warn({ code: err.code, error: `${err.message}${hint}`, failures: state.consecutiveFailures, retryInMs: delay, queued: queue.depth().total }, 'upload failed; will retry');
    }
  }

  async function run(job: Job): Promise<void> {
    const abort = new AbortController();
    const promise = (async () => {
      try {
        if (job.kind === 'sample') await runSample(job, abort.signal);
        else await runLabel(job, abort.signal);
        succeeded(job);
      } catch (err) {
        if (err instanceof DropJob) {
          queue.drop(job);
          metrics.dropped.inc({ reason: err.reason });
          log.warn({ inspectionId: job.inspectionId, kind: job.kind, reason: err.reason, detail: err.message }, 'upload job dropped');
        } else if (stopping && abort.signal.aborted) {
          // Aborted by stop(): still queued, runs after the restart.
        } else {
          failed(job, err instanceof UploadError ? err : toUploadError(err, `${job.kind} ${job.inspectionId}`));
        }
      } finally {
        inFlight.delete(job.id);
        kick();
      }
    })();
    inFlight.set(job.id, { promise, abort });
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      const t = now();
      if (pausedUntil > t) {
        await waitForKick(Math.min(pausedUntil - t, IDLE_POLL_MS));
        continue;
      }
      // While failing, a single probe at a time: an outage must not turn into a request storm.
      const slots = (state.connected === false ? 1 : config.concurrency) - inFlight.size;
      const jobs = slots > 0 ? queue.due(t, slots, new Set(inFlight.keys())) : [];
      for (const job of jobs) void run(job);
      if (jobs.length === 0) {
        const next = queue.nextAttemptAt();
        await waitForKick(next === null ? IDLE_POLL_MS : Math.min(IDLE_POLL_MS, Math.max(10, next - t)));
      } else {
        await waitForKick(IDLE_POLL_MS);
      }
    }
  }

  return {
    start() {
      stopping = false;
      loopDone = loop().catch((err) => log.error({ err }, 'upload worker stopped unexpectedly'));
    },
    async stop() {
      stopping = true;
      kick();
      await loopDone;
      const pending = [...inFlight.values()];
      if (pending.length === 0) return;
      const timer = setTimeout(() => pending.forEach((p) => p.abort.abort(new Error('stopping'))), STOP_GRACE_MS);
      await Promise.allSettled(pending.map((p) => p.promise));
      clearTimeout(timer);
    },
    kick,
    state: () => ({ ...state }),
  };
}
