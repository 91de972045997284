// A typed event bus: one emit/on pair per event. A throwing listener is logged, never
// allowed to break the emitter. Modules add their own events by augmenting BusEvents:
//   declare module '../bus.js' { interface BusEvents { myEvent: MyPayload } }
import { VisorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ModelManifest } from '../inference/manifest.js';
import type { RecordedReview } from '../store/reviews.js';
import type { CameraStatus, Frame, Inspection, ModelOutput, RawImage, Thresholds } from '../common/types.js';

/** A frame's fields and pixels in buffers of its own: safe to keep. */
export type FrameCopy = Omit<Frame, 'release'>;

/**
 * A frame lent to bus listeners. Its pixels are the camera's pooled buffers, reused for
 * later frames once the call returns: reading `data` or `full` after that throws. Keep
 * `copy()` (or the plain fields), never the frame.
 */
export interface LentFrame extends Omit<FrameCopy, 'data' | 'full'> {
  readonly data: Buffer;
  readonly full?: RawImage;
  copy(): FrameCopy;
}

/** Runs `use` with a loan of `frame` that ends when `use` returns. */
export function lendFrame<T>(frame: Frame, use: (lent: LentFrame) => T): T {
  let lent = true;
  const during = <V>(value: V): V => {
    if (!lent) throw new VisorError('FRAME_RETURNED', `frame ${frame.seq} of camera ${frame.cameraId} was lent for the call only; keep frame.copy(), not the frame`);
    return value;
  };
  const { cameraId, seq, capturedAt, width, height, pixelFormat, sourceFile } = frame;
  const fields = { cameraId, seq, capturedAt, width, height, pixelFormat, ...(sourceFile === undefined ? {} : { sourceFile }) };
  const loan: LentFrame = {
    ...fields,
    get data() {
      return during(frame.data);
    },
    get full() {
      return during(frame.full);
    },
    copy() {
      const full = during(frame.full);
      return { ...fields, data: Buffer.from(during(frame.data)), ...(full ? { full: { ...full, data: Buffer.from(full.data) } } : {}) };
    },
  };
  try {
    return use(loan);
  } finally {
    lent = false;
  }
}

export interface InspectionEvent {
  /** As stored (the store committed it before this event). */
  inspection: Inspection;
  /** The frame at inference size (and full resolution if kept), lent for the call only: keep `frame.copy()`. */
  frame: LentFrame;
  output: ModelOutput;
  /** Epoch ms when the store's commit returned. */
  storedAt: number;
  /** True when this frame was taken because someone asked for a sample (LineControl.requestSample). */
  requested: boolean;
}

/** A reviewer's verdict on an inspection, or its undo (stored by the store's review module before this is emitted). */
export type ReviewEvent = RecordedReview;

export interface BusEvents {
  review: ReviewEvent;
  inspection: InspectionEvent;
  cameraStatus: CameraStatus;
  thresholds: { cameraId: string; thresholds: Thresholds; source: string };
  model: { manifest: ModelManifest; dir: string };
}

export type BusListener<K extends keyof BusEvents> = (payload: BusEvents[K]) => void;

export interface Bus {
  on<K extends keyof BusEvents>(event: K, listener: BusListener<K>): () => void;
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void;
}

export function createBus(log: Logger): Bus {
  const listeners = new Map<keyof BusEvents, Set<(payload: never) => void>>();
  return {
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
    emit(event, payload) {
      for (const listener of listeners.get(event) ?? []) {
        try {
          (listener as BusListener<typeof event>)(payload);
        } catch (err) {
          log.error({ err, event }, 'event listener failed');
        }
      }
    },
  };
}
