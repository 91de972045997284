// The inspection loop, one per camera: newest frame → model → decision → stored
// inspection → bus. A defect is in SQLite before anything else sees it.
import { lendFrame, type Bus } from './bus.js';
import type { Camera } from '../capture/index.js';
import type { RoiConfig } from '../config/schema.js';
import { VisorError, errorMessage } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { decide, renderOverlay, type Inferencer } from '../inference/index.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from './metrics.js';
import type { SamplingPolicy } from './sampling.js';
import { encodeJpeg, type ImagesToStore, type Store } from '../store/index.js';
import type { Frame, Inspection, ModelOutput, Thresholds } from '../common/types.js';
import type { Geometry } from '../common/geometry.js';

/** Heat-map colour scale as fractions of the defect threshold (see renderOverlay). */
const HEAT_FLOOR = 0.7;
const HEAT_CEILING = 1.3;

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
  /** Frames inspected so far. */
  readonly inspected: number;
}

interface SampleRequest {
  resolve: (inspection: Inspection) => void;
  reject: (err: Error) => void;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const now = deps.now ?? Date.now;
  const loops: Promise<void>[] = [];
  const sampleRequests = new Map<string, SampleRequest[]>();
  let inspected = 0;
  let stopping = false;

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

  /** Image encoding, the store's commit, then the bus: runs while the model works on the next frame. */
  async function storeFrame(frame: Frame, decided: Decided, requested: boolean): Promise<Inspection> {
    const { inspection, output, thresholds } = decided;
    let images: ImagesToStore | undefined;
    const kept = deps.sampling.imageDecision(inspection, requested);
    if (kept.shed !== undefined) inspection.imageShed = kept.shed;
    if (kept.keep) {
      // Encode only frames that are kept; the full-resolution copy when the source has one.
      const encodeStarted = performance.now();
      const picture = frame.full ?? frame;
      const hasOverlay = output.heatMap !== undefined || (output.boxes?.length ?? 0) > 0;
      const [image, overlay] = await Promise.all([
        encodeJpeg(picture, deps.jpegQuality),
        hasOverlay
          ? renderOverlay(picture, output, {
              roi: frame.full ? deps.roi(frame.cameraId) : undefined,
              inputSize: decided.inputSize,
              geometry: decided.geometry,
              // Colour relative to the threshold: patches well below it (the normal texture) stay
              // clear, the colour ramps up through the threshold, full red well above it.
              range: [HEAT_FLOOR * thresholds.defect, HEAT_CEILING * thresholds.defect],
            })
          : undefined,
      ]);
      images = { image, overlay };
      inspection.timings.encodeMs = performance.now() - encodeStarted;
    }
    const stored = deps.store.save(inspection, images);
    const storedAt = now();
    inspected++;
    deps.metrics.observeInspection(stored, storedAt);
    lendFrame(frame, (lent) => deps.bus.emit('inspection', { inspection: stored, frame: lent, output, storedAt, requested }));
    return stored;
  }

  function takeSampleRequests(cameraId: string): SampleRequest[] {
    const pending = sampleRequests.get(cameraId) ?? [];
    sampleRequests.delete(cameraId);
    return pending;
  }

  async function run(camera: Camera): Promise<void> {
    const log = deps.log.child({ module: 'pipeline', cameraId: camera.id });
    const failed = (frame: Frame, samples: SampleRequest[], err: unknown) => {
      deps.metrics.observeFailure();
      log.error({ err, seq: frame.seq, detail: errorMessage(err) }, 'frame could not be inspected');
      for (const s of samples) s.reject(new VisorError('SAMPLE_FAILED', `sample from camera ${camera.id} failed: ${errorMessage(err)}`, { cause: err, retryable: true }));
    };
    // Two stages: while frame N is encoded and stored, the model already runs on frame N+1.
    // At most one frame is in each stage, and frames are stored in the order they were taken.
    let storing: Promise<void> = Promise.resolve();
    for (;;) {
      const frame = await camera.next();
      if (!frame) break;
      const samples = takeSampleRequests(camera.id);
      let decided: Decided;
      try {
        decided = await decideFrame(frame);
      } catch (err) {
        failed(frame, samples, err);
        frame.release();
        continue;
      }
      await storing;
      storing = storeFrame(frame, decided, samples.length > 0).then(
        (stored) => {
          log.debug({ inspectionId: stored.id, seq: frame.seq, verdict: stored.verdict, score: Number(stored.score.toFixed(4)) }, 'inspection stored');
          for (const s of samples) s.resolve(stored);
        },
        (err: unknown) => failed(frame, samples, err),
      ).finally(() => frame.release());
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
    get inspected() {
      return inspected;
    },
  };
}
