// The inspection loops, one per camera, sharing the model fairly: each camera waits its turn
// (first come, first served, one frame per camera in the queue), and at its turn takes the
// newest frame it has (older ones are dropped and counted); a camera a triggered part waits
// for goes to the front with its first frame after the trigger (prioritize). After the model,
// a kept frame's JPEG (encoded by sharp on libuv's threads, a bounded number at once) is
// written and fsynced off the main thread while the model goes on; a camera's
// frames are stored in the order they were taken. A defect is in SQLite
// before anything else sees it. The heat map is stored as data; overlays are rendered when
// someone looks (src/inference/overlay.ts).
import { lendFrame, type Bus } from './bus.js';
import type { Camera } from '../capture/index.js';
import type { RoiConfig } from '../config/schema.js';
import { VisorError, errorMessage } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { decide, type Inferencer } from '../inference/index.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from './metrics.js';
import type { SamplingPolicy } from './sampling.js';
import { createLineSaturation, type LineSaturation } from './saturation.js';
import { encodeJpeg, type ImagesToStore, type Store } from '../store/index.js';
import type { Frame, Inspection, ModelOutput, RawImage, Thresholds } from '../common/types.js';
import type { Geometry } from '../common/geometry.js';
import type { PrioritizeFrames } from './triggers.js';

/** Kept frames of one camera waiting for their JPEG (their pool buffers are held): beyond it the camera waits. */
const MAX_IMAGES_PER_CAMERA = 2;
/** Frames of one camera waiting to be stored, kept or not: beyond it the camera waits. */
const MAX_QUEUED_PER_CAMERA = 8;

interface TurnOptions {
  /** Served before every holder-to-be that is not urgent (after the urgent ones already waiting). */
  urgent?: boolean;
  /** Aborted while waiting: the place in line is given up and the promise resolves undefined. */
  signal?: AbortSignal;
}

/**
 * At most `max()` holders at once, the others served in the order they asked (urgent ones
 * first); resolves with the function that ends a turn, or undefined when `signal` aborted the wait.
 */
function turns(max: () => number): (options?: TurnOptions) => Promise<(() => void) | undefined> {
  const waiting: Array<{ go: () => void; urgent: boolean }> = [];
  let active = 0;
  const done = (): void => {
    // The turn passes straight to the next in line, so no newcomer slips in between (unless
    // max() has shrunk below the holders, a swapped model's).
    const next = active <= max() ? waiting.shift() : undefined;
    if (next) next.go();
    else active--;
  };
  return (options = {}) =>
    new Promise((resolve) => {
      const { urgent = false, signal } = options;
      if (signal?.aborted) return resolve(undefined);
      if (active < max()) {
        active++;
        return resolve(done);
      }
      const onAbort = (): void => {
        const i = waiting.indexOf(entry);
        if (i >= 0) waiting.splice(i, 1);
        resolve(undefined);
      };
      const entry = {
        urgent,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(done);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const at = urgent ? waiting.findIndex((w) => !w.urgent) : -1;
      if (at >= 0) waiting.splice(at, 0, entry);
      else waiting.push(entry);
    });
}

/** A frame's model-size pixels in a buffer of its own (no full-resolution picture): the pool's buffers can go back. */
function detach(frame: Frame): Frame {
  const { release: _release, full: _full, data, ...fields } = frame;
  return { ...fields, data: Buffer.from(data), release: () => undefined };
}

export interface PipelineDeps {
  cameras: Camera[];
  /** The model in use; a getter so a swapped model takes effect on the next frame. */
  inferencer: () => Inferencer;
  /** Thresholds in force for a camera; a getter so runtime changes apply to the next frame. */
  thresholds: (cameraId: string) => Thresholds;
  roi: (cameraId: string) => RoiConfig | undefined;
  store: Store;
  /** Which frames' images are kept, and which are shed under pressure (src/line/sampling.ts). */
  sampling: Pick<SamplingPolicy, 'imageDecision'>;
  jpegQuality: number;
  /** JPEG encodes at once (default 2). */
  maxEncodes?: number;
  /**
   * Cameras inspected only when a trigger (prioritize) or a sample request asks for a frame
   * (stations[].inspect: triggered); their other frames are skipped. Default: none.
   */
  triggeredOnly?: ReadonlySet<string>;
  /** Encodes a kept frame's picture; default encodeJpeg (sharp, on libuv's threads). */
  encode?: (image: RawImage, quality: number) => Promise<Buffer>;
  metrics: Metrics;
  bus: Bus;
  log: Logger;
  now?: () => number;
}

export interface Pipeline {
  start(): void;
  /** Resolves when every camera loop has finished its in-flight frame (call after the cameras stop). */
  stopped(): Promise<void>;
  /**
   * Stores the next frame of a camera with its image whatever its verdict, for collecting
   * retraining data on demand; resolves with the stored inspection.
   */
  requestSample(cameraId: string, options?: { timeoutMs?: number }): Promise<Inspection>;
  /**
   * A triggered part (src/stations): each camera's first frame captured at or after `from`
   * takes the model's next turn, ahead of the cameras waiting theirs; until then the camera's
   * older frames take no turns (they are dropped and counted). Returns a function that
   * withdraws what no frame has taken yet.
   */
  prioritize: PrioritizeFrames;
  /** Frames inspected so far. */
  readonly inspected: number;
  /** The line's pressure source for image shedding (add it to the sampling policy), with its health. */
  readonly saturation: LineSaturation;
}

interface SampleRequest {
  resolve: (inspection: Inspection) => void;
  reject: (err: Error) => void;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const now = deps.now ?? Date.now;
  const triggeredOnly = deps.triggeredOnly ?? new Set<string>();
  const loops: Promise<void>[] = [];
  const sampleRequests = new Map<string, SampleRequest[]>();
  let inspected = 0;
  let stopping = false;
  const inspectedBy = new Map<string, number>();
  /** Open triggers by camera: capture times from which a frame is wanted first. */
  const wanted = new Map<string, number[]>();
  /** Per camera: aborted when a trigger comes, so a camera waiting its turn with an older frame steps out of line. */
  const interrupts = new Map<string, AbortController>();
  const interrupt = (cameraId: string): AbortSignal => {
    let c = interrupts.get(cameraId);
    if (!c || c.signal.aborted) interrupts.set(cameraId, (c = new AbortController()));
    return c.signal;
  };
  /** The earliest capture time an open trigger of the camera wants, if any. */
  const wantedFrom = (cameraId: string): number | undefined => {
    const froms = wanted.get(cameraId);
    return froms && froms.length > 0 ? Math.min(...froms) : undefined;
  };
  /** A frame captured at `capturedAt` takes its turn: the triggers it answers are done. */
  const answered = (cameraId: string, capturedAt: number): void => {
    const froms = wanted.get(cameraId)?.filter((f) => f > capturedAt);
    if (froms && froms.length > 0) wanted.set(cameraId, froms);
    else wanted.delete(cameraId);
  };
  const maxEncodes = Math.max(1, deps.maxEncodes ?? 2);
  const saturation = createLineSaturation({
    maxEncodes,
    frames: () => deps.cameras.map((c) => ({ cameraId: c.id, inspected: inspectedBy.get(c.id) ?? 0, superseded: c.status().framesDropped })),
    now,
  });

  // The model's queue: one frame at a time (two for a model in a worker: one runs, the next waits
  // there), cameras in the order they asked (each asks again only after its frame is scored).
  const modelTurn = turns(() => deps.inferencer().inFlight ?? 1);
  // JPEG encodes: a bounded number at once, the rest wait their turn (in order).
  const encodeTurn = turns(() => maxEncodes);
  const encode = deps.encode ?? encodeJpeg;
  async function encodeBounded(frame: Frame): Promise<Buffer> {
    // Without a signal the wait always ends in a turn.
    const done = (await encodeTurn())!;
    try {
      return await encode(frame.full ?? frame, deps.jpegQuality);
    } finally {
      done();
    }
  }

  interface Decided {
    inspection: Inspection;
    output: ModelOutput;
    inputSize: { width: number; height: number };
    geometry: Geometry;
    thresholds: Thresholds;
  }

  /** Model and decision: the part that needs the model, one frame at a time. */
  async function decideFrame(frame: Frame): Promise<Decided> {
    const inferencer = deps.inferencer();
    const startedAt = now();
    const result = await inferencer.infer(frame);
    const inferredAt = now();
    const thresholds = deps.thresholds(frame.cameraId);
    const verdict = decide(result.output.score, thresholds);
    const manifest = inferencer.manifest;
    const inspection: Inspection = {
      id: newId(frame.capturedAt),
      cameraId: frame.cameraId,
      frameSeq: frame.seq,
      capturedAt: frame.capturedAt,
      inferredAt,
      decidedAt: now(),
      verdict,
      score: result.output.score,
      classes: result.output.classes,
      boxes: result.output.boxes,
      model: { name: manifest.name, version: manifest.version, task: manifest.task },
      thresholds,
      timings: {
        queueMs: Math.max(0, startedAt - frame.capturedAt),
        preprocessMs: result.preprocessMs,
        inferenceMs: result.inferenceMs,
        postprocessMs: result.postprocessMs,
      },
      sourceFile: frame.sourceFile,
    };
    return { inspection, output: result.output, inputSize: inferencer.inputSize, geometry: inferencer.geometry, thresholds };
  }

  /** Image encoding (kept frames only), the store's commit, then the bus. */
  async function storeFrame(frame: Frame, decided: Decided, keep: boolean, requested: boolean): Promise<Inspection> {
    const { inspection, output } = decided;
    let images: ImagesToStore | undefined;
    if (keep) {
      // The full-resolution copy when the source has one; the overlay is drawn from the stored data on demand.
      const encodeStarted = performance.now();
      const image = await encodeBounded(frame);
      const hasOverlay = output.heatMap !== undefined || (output.boxes?.length ?? 0) > 0;
      const roi = frame.full ? deps.roi(frame.cameraId) : undefined;
      images = {
        image,
        ...(hasOverlay
          ? { overlayData: { ...(output.heatMap ? { heatMap: output.heatMap } : {}), ...(roi ? { roi } : {}), geometry: { resize: decided.geometry.resize, frame: decided.geometry.frame }, inputSize: decided.inputSize } }
          : {}),
      };
      inspection.timings.encodeMs = performance.now() - encodeStarted;
    }
    // Kept images are written and fsynced on libuv's threads; the row commits once they are on disk.
    const stored = images ? await deps.store.saveAsync(inspection, images) : deps.store.save(inspection);
    const storedAt = now();
    inspected++;
    inspectedBy.set(frame.cameraId, (inspectedBy.get(frame.cameraId) ?? 0) + 1);
    deps.metrics.observeInspection(stored, storedAt);
    lendFrame(frame, (lent) => deps.bus.emit('inspection', { inspection: stored, frame: lent, output, storedAt, requested }));
    return stored;
  }

  function takeSampleRequests(cameraId: string): SampleRequest[] {
    const pending = sampleRequests.get(cameraId) ?? [];
    sampleRequests.delete(cameraId);
    return pending;
  }

  /** Whether to keep the frame's image (the sampling policy, less what pressure sheds); a shed image is named on the row. */
  function keepImage(inspection: Inspection, requested: boolean): boolean {
    const decision = deps.sampling.imageDecision(inspection, requested);
    if (decision.shed !== undefined) inspection.imageShed = decision.shed;
    return decision.keep;
  }

  async function run(camera: Camera): Promise<void> {
    const log = deps.log.child({ module: 'pipeline', cameraId: camera.id });
    const failed = (frame: Frame, samples: SampleRequest[], err: unknown) => {
      deps.metrics.observeFailure();
      log.error({ err, seq: frame.seq, detail: errorMessage(err) }, 'frame could not be inspected');
      for (const s of samples) s.reject(new VisorError('SAMPLE_FAILED', `sample from camera ${camera.id} failed: ${errorMessage(err)}`, { cause: err, retryable: true }));
    };
    // While this camera's kept frames are encoded and stored, the model already takes its next
    // frames; a camera's frames are stored in the order they were taken.
    let storing: Promise<void> = Promise.resolve();
    let queued = 0;
    let images = 0;
    /** A frame taken from the slot that goes round the loop again (its wait for a turn was interrupted). */
    let again: Frame | undefined;
    for (;;) {
      let frame = again ?? (await camera.next());
      again = undefined;
      if (!frame) break;
      // A triggered camera's frames from before the trigger take no turns: the part's frame comes
      // first. A camera inspected only on trigger skips every frame no trigger or sample asks for.
      const from = wantedFrom(camera.id);
      const onTriggerOnly = triggeredOnly.has(camera.id) && (sampleRequests.get(camera.id)?.length ?? 0) === 0;
      if (onTriggerOnly && (from === undefined || frame.capturedAt < from)) {
        camera.skip(frame);
        continue;
      }
      if (from !== undefined && frame.capturedAt < from) {
        camera.drop(frame);
        continue;
      }
      const done = await modelTurn(from !== undefined ? { urgent: true } : { signal: interrupt(camera.id) });
      if (!done) {
        // A trigger came while this camera waited its turn: the newest frame goes back through the check above.
        again = camera.fresher(frame);
        continue;
      }
      let decided: Decided;
      let samples: SampleRequest[];
      try {
        // Newest wins at the model's door: a frame that came while this camera waited its turn replaces the one it held.
        frame = camera.fresher(frame);
        if (wanted.has(camera.id)) answered(camera.id, frame.capturedAt);
        samples = takeSampleRequests(camera.id);
        try {
          decided = await decideFrame(frame);
        } catch (err) {
          failed(frame, samples, err);
          frame.release();
          continue;
        }
      } finally {
        done();
      }
      const requested = samples.length > 0;
      const keep = keepImage(decided.inspection, requested);
      const taken = frame;
      const settle = (stored: Promise<Inspection>): Promise<void> =>
        stored.then(
          (inspection) => {
            log.debug({ inspectionId: inspection.id, seq: taken.seq, verdict: inspection.verdict, score: Number(inspection.score.toFixed(4)) }, 'inspection stored');
            for (const s of samples) s.resolve(inspection);
          },
          (err: unknown) => failed(taken, samples, err),
        );
      if (!keep && queued === 0) {
        // Nothing to encode and nothing of this camera in flight: stored now (synchronously).
        await settle(storeFrame(taken, decided, false, requested)).finally(() => taken.release());
        continue;
      }
      // Behind this camera's images in flight. A camera with MAX_IMAGES_PER_CAMERA images (or
      // MAX_QUEUED_PER_CAMERA frames) in flight waits; its newer frames are dropped (and counted) meanwhile.
      if ((keep && images >= MAX_IMAGES_PER_CAMERA) || queued >= MAX_QUEUED_PER_CAMERA) await storing;
      // A frame whose image is not kept waits with a copy of its model-size pixels: its pool buffers go back now.
      const held = keep ? taken : detach(taken);
      queued++;
      if (keep) {
        images++;
        saturation.imageJobs(1);
      }
      storing = storing
        .then(() => settle(storeFrame(held, decided, keep, requested)))
        .finally(() => {
          queued--;
          if (keep) {
            images--;
            saturation.imageJobs(-1);
          }
          held.release();
        });
    }
    await storing;
  }

  return {
    start() {
      for (const camera of deps.cameras) loops.push(run(camera));
    },
    async stopped() {
      stopping = true;
      await Promise.all(loops);
      for (const cameraId of [...sampleRequests.keys()]) {
        for (const s of takeSampleRequests(cameraId)) s.reject(new VisorError('STOPPING', 'the line is stopping'));
      }
    },
    requestSample(cameraId, options = {}) {
      if (!deps.cameras.some((c) => c.id === cameraId)) return Promise.reject(new VisorError('UNKNOWN_CAMERA', `no camera "${cameraId}"`));
      if (stopping) return Promise.reject(new VisorError('STOPPING', 'the line is stopping'));
      const timeoutMs = options.timeoutMs ?? 15_000;
      return new Promise<Inspection>((resolve, reject) => {
        const request: SampleRequest = {
          resolve: (i) => {
            clearTimeout(timer);
            resolve(i);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          // Already taken by a frame in flight: it is no longer queued (and a newer request may be).
          const list = sampleRequests.get(cameraId) ?? [];
          if (list.includes(request)) list.splice(list.indexOf(request), 1);
          reject(new VisorError('SAMPLE_TIMEOUT', `no frame from camera ${cameraId} within ${timeoutMs} ms`, { retryable: true }));
        }, timeoutMs);
        const list = sampleRequests.get(cameraId) ?? [];
        list.push(request);
        sampleRequests.set(cameraId, list);
      });
    },
    prioritize(cameraIds, from) {
      const ids = cameraIds.filter((id) => deps.cameras.some((c) => c.id === id));
      for (const id of ids) {
        wanted.set(id, [...(wanted.get(id) ?? []), from]);
        interrupts.get(id)?.abort();
      }
      return () => {
        for (const id of ids) {
          const froms = wanted.get(id);
          const i = froms?.indexOf(from) ?? -1;
          if (i < 0) continue;
          froms!.splice(i, 1);
          if (froms!.length === 0) wanted.delete(id);
        }
      };
    },
    get inspected() {
      return inspected;
    },
    saturation,
  };
}
