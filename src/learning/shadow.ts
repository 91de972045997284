// The shadow run: a candidate model scores the frames the live model inspected, after the
// inspection is stored (the bus `inspection` event), so it cannot change a verdict, an event
// or an upload: those were decided in the inspection's own save. Its score and verdict go to
// shadow_scores. It scores a configured share of the frames; a frame that comes while the
// candidate is still busy with the one before is skipped and counted, so the share achieved
// shows what the CPU allowed. A frame the two models disagree on gets its image kept (from
// the frame at model size), so reviewers can judge exactly the frames that decide.
import type { Bus, InspectionEvent } from '../line/bus.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Thresholds } from '../common/types.js';
import { decide, resolveThresholds, type Inferencer } from '../inference/index.js';
import { encodeJpeg, type Store } from '../store/index.js';
import { disagreementOf, type LearningRecords } from './records.js';

export interface ShadowStatus {
  candidate: string;
  /** The configured share (learning.shadow.share). */
  share: number;
  /** Inspections seen since the candidate started. */
  seen: number;
  scored: number;
  /** Selected by the share but skipped: the candidate was still busy. */
  skippedBusy: number;
  failed: number;
  /** scored / seen. */
  achievedShare: number;
  meanInferenceMs: number;
  /** Disagreements whose image was kept for review. */
  imagesKept: number;
}

export interface ShadowDeps {
  bus: Bus;
  store: Store;
  records: LearningRecords;
  share: number;
  keepDisagreements: boolean;
  jpegQuality: number;
  log: Logger;
  now?: () => number;
}

export interface Shadow {
  /** Scores frames with this candidate from the next inspection on; a candidate running before is closed. The shadow owns `inferencer` from here on. */
  run(version: string, inferencer: Inferencer): Promise<void>;
  /** Stops scoring and closes the candidate (after the frame in flight); run() starts again. */
  clear(): Promise<void>;
  /** clear(), and no longer listens to the line. */
  close(): Promise<void>;
  readonly candidate: { version: string; inferencer: Inferencer } | undefined;
  status(): ShadowStatus | undefined;
  /** Resolves once the frame in flight (if any) is scored. */
  idle(): Promise<void>;
}

export function createShadow(deps: ShadowDeps): Shadow {
  const now = deps.now ?? Date.now;
  const log = deps.log;
  let current: { version: string; inferencer: Inferencer; thresholds: Thresholds } | undefined;
  let stats = { seen: 0, scored: 0, skippedBusy: 0, failed: 0, inferenceMs: 0, imagesKept: 0 };
  // Selection by credit, not by chance: a share of 0.25 scores every fourth frame.
  let credit = 0;
  let inFlight: Promise<void> | undefined;

  async function score(event: InspectionEvent, data: Buffer, candidate: NonNullable<typeof current>): Promise<void> {
    const { inspection, frame } = event;
    const started = performance.now();
    try {
      const result = await candidate.inferencer.infer({ width: frame.width, height: frame.height, pixelFormat: frame.pixelFormat, data });
      const inferenceMs = performance.now() - started;
      const verdict = decide(result.output.score, candidate.thresholds);
      const disagreement = disagreementOf(inspection.verdict, verdict);
      deps.records.addShadowScore({ inspectionId: inspection.id, candidate: candidate.version, score: result.output.score, verdict, disagreement, at: now(), inferenceMs });
      stats.scored++;
      stats.inferenceMs += inferenceMs;
      if (disagreement && deps.keepDisagreements && inspection.imagePath === undefined && ['ok', 'warn'].includes(deps.store.disk.status().level)) {
        const jpeg = await encodeJpeg({ width: frame.width, height: frame.height, pixelFormat: frame.pixelFormat, data }, deps.jpegQuality);
        if (deps.store.attachImage(inspection.id, jpeg) !== undefined) stats.imagesKept++;
      }
    } catch (err) {
      stats.failed++;
      // Retention may have removed the row meanwhile, or the candidate cannot read this frame: the live line is unaffected.
      log.warn({ err, inspectionId: inspection.id, candidate: candidate.version, detail: errorMessage(err) }, 'shadow candidate could not score a frame');
    }
  }

  const off = deps.bus.on('inspection', (event) => {
    const candidate = current;
    if (!candidate) return;
    stats.seen++;
    credit += deps.share;
    if (credit < 1 - 1e-9) return;
    credit -= 1;
    if (inFlight) {
      stats.skippedBusy++;
      return;
    }
    // The frame is lent for this call only: its model-size pixels are copied (not the full-resolution picture).
    const data = Buffer.from(event.frame.data);
    inFlight = score(event, data, candidate).finally(() => {
      inFlight = undefined;
    });
  });

  async function clear(): Promise<void> {
    const previous = current;
    current = undefined;
    await inFlight;
    await previous?.inferencer.close();
  }

  return {
    async run(version, inferencer) {
      await clear();
      stats = { seen: 0, scored: 0, skippedBusy: 0, failed: 0, inferenceMs: 0, imagesKept: 0 };
      credit = 0;
      current = { version, inferencer, thresholds: resolveThresholds(inferencer.manifest.thresholds) };
      log.info({ candidate: version, share: deps.share }, 'shadow run started');
    },
    clear,
    async close() {
      off();
      await clear();
    },
    get candidate() {
      return current ? { version: current.version, inferencer: current.inferencer } : undefined;
    },
    status() {
      if (!current) return undefined;
      return {
        candidate: current.version,
        share: deps.share,
        seen: stats.seen,
        scored: stats.scored,
        skippedBusy: stats.skippedBusy,
        failed: stats.failed,
        achievedShare: stats.seen === 0 ? 0 : stats.scored / stats.seen,
        meanInferenceMs: stats.scored === 0 ? 0 : stats.inferenceMs / stats.scored,
        imagesKept: stats.imagesKept,
      };
    },
    idle: async () => {
      await inFlight;
    },
  };
}
