// The inspection loop, one per camera: newest frame → model → decision → stored
// inspection → listeners. A defect is in SQLite before anything else sees it.
import type { Camera } from './capture/index.js';
import { decide, renderOverlay, type Inferencer } from './inference/index.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { encodeJpeg, type ImagesToStore, type Store } from './store/index.js';
import { newId } from './ids.js';
import { errorMessage } from './errors.js';
import type { Frame, Inspection, Thresholds } from './types.js';
import type { RoiConfig } from './config/schema.js';

export interface PipelineDeps {
  cameras: Camera[];
  /** The model in use; a getter so a swapped model takes effect on the next frame. */
  inferencer: () => Inferencer;
  thresholds: (cameraId: string) => Thresholds;
  roi: (cameraId: string) => RoiConfig | undefined;
  store: Store;
  jpegQuality: number;
  metrics: Metrics;
  log: Logger;
  /** Called after an inspection is stored (live view, events, upload). A throwing listener is logged. */
  onInspection?: (inspection: Inspection) => void;
  now?: () => number;
}

export interface Pipeline {
  start(): void;
  /** Resolves when every camera loop has finished its in-flight frame (call after the cameras stop). */
  stopped(): Promise<void>;
  /** Frames inspected so far. */
  readonly inspected: number;
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const now = deps.now ?? Date.now;
  const loops: Promise<void>[] = [];
  let inspected = 0;

  async function inspect(frame: Frame): Promise<Inspection> {
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
    let images: ImagesToStore | undefined;
    if (deps.store.shouldStoreImage(verdict)) {
      // Encode only frames that are kept; the full-resolution copy when the source has one.
      const picture = frame.full ?? frame;
      const hasOverlay = result.output.heatMap !== undefined || (result.output.boxes?.length ?? 0) > 0;
      const [image, overlay] = await Promise.all([
        encodeJpeg(picture, deps.jpegQuality),
        hasOverlay
          ? renderOverlay(picture, result.output, {
              roi: frame.full ? deps.roi(frame.cameraId) : undefined,
              inputSize: inferencer.inputSize,
              // Colour relative to the threshold, so an ok frame stays faint.
              range: [0, thresholds.defect],
            })
          : undefined,
      ]);
      images = { image, overlay };
    }
    return deps.store.save(inspection, images);
  }

  async function run(camera: Camera): Promise<void> {
    const log = deps.log.child({ module: 'pipeline', cameraId: camera.id });
    for (;;) {
      const frame = await camera.next();
      if (!frame) return;
      try {
        const stored = await inspect(frame);
        inspected++;
        log.info({ inspectionId: stored.id, seq: stored.frameSeq, verdict: stored.verdict, score: Number(stored.score.toFixed(4)) }, 'inspection stored');
        deps.metrics.observeInspection(stored);
        try {
          deps.onInspection?.(stored);
        } catch (err) {
          log.error({ err }, 'inspection listener failed');
        }
      } catch (err) {
        deps.metrics.observeFailure();
        log.error({ err, seq: frame.seq, detail: errorMessage(err) }, 'frame could not be inspected');
      } finally {
        frame.release();
      }
    }
  }

  return {
    start() {
      for (const camera of deps.cameras) loops.push(run(camera));
    },
    async stopped() {
      await Promise.all(loops);
    },
    get inspected() {
      return inspected;
    },
  };
}
