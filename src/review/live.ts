// The live view's latest frame per camera, taken from the pipeline's inspection events so a
// camera is opened once. The pixels are copied synchronously (the frame's buffer goes back to
// its pool after the event); the JPEG is encoded only when someone asks, once per frame.
import type { Bus } from '../line/bus.js';
import { renderOverlay } from '../inference/overlay.js';
import type { Box, HeatMap, RawImage, Thresholds, Verdict } from '../common/types.js';

export interface LiveFrameInfo {
  cameraId: string;
  seq: number;
  inspectionId: string;
  verdict: Verdict;
  score: number;
  capturedAt: number;
  /** Inspections per second over the last few seconds. */
  fps: number;
}

interface Latest {
  info: LiveFrameInfo;
  image: RawImage;
  heatMap?: HeatMap;
  boxes?: Box[];
  thresholds: Thresholds;
  jpeg?: Promise<Buffer>;
  times: number[];
}

export interface LiveFrames {
  list(): LiveFrameInfo[];
  /** The latest frame of a camera as a JPEG with the model's overlay; undefined before its first frame. */
  jpeg(cameraId: string): Promise<{ info: LiveFrameInfo; jpeg: Buffer } | undefined>;
  /** Called (at most every minIntervalMs per camera) when a camera has a new frame. */
  onFrame(listener: (info: LiveFrameInfo) => void): () => void;
  close(): void;
}

export function createLiveFrames(deps: { bus: Bus; minIntervalMs?: number; quality?: number }): LiveFrames {
  const latest = new Map<string, Latest>();
  const listeners = new Set<(info: LiveFrameInfo) => void>();
  const lastSent = new Map<string, number>();
  const pending = new Map<string, NodeJS.Timeout>();
  const minInterval = deps.minIntervalMs ?? 500;

  function notify(cameraId: string) {
    const entry = latest.get(cameraId);
    if (!entry) return;
    lastSent.set(cameraId, Date.now());
    for (const l of listeners) l(entry.info);
  }

  const off = deps.bus.on('inspection', ({ inspection, frame, output }) => {
    const prev = latest.get(frame.cameraId);
    // Reuse the previous copy's buffer when the size matches: no allocation per frame.
    const bytes = frame.data.length;
    const data = prev && prev.image.data.length === bytes ? prev.image.data : Buffer.allocUnsafe(bytes);
    frame.data.copy(data, 0, 0, bytes);
    const t = Date.now();
    const times = (prev?.times ?? []).filter((x) => t - x < 5000);
    times.push(t);
    const fps = times.length > 1 ? ((times.length - 1) * 1000) / Math.max(1, t - times[0]!) : 0;
    latest.set(frame.cameraId, {
      info: { cameraId: frame.cameraId, seq: frame.seq, inspectionId: inspection.id, verdict: inspection.verdict, score: inspection.score, capturedAt: frame.capturedAt, fps },
      image: { width: frame.width, height: frame.height, pixelFormat: frame.pixelFormat, data },
      heatMap: output.heatMap && { width: output.heatMap.width, height: output.heatMap.height, data: output.heatMap.data.slice() },
      boxes: output.boxes?.map((b) => ({ ...b })),
      thresholds: inspection.thresholds,
      times,
    });
    // Throttle notifications: a browser does not need more than a couple of frames a second per camera.
    const since = t - (lastSent.get(frame.cameraId) ?? 0);
    if (since >= minInterval) notify(frame.cameraId);
    else if (!pending.has(frame.cameraId))
      pending.set(
        frame.cameraId,
        setTimeout(() => {
          pending.delete(frame.cameraId);
          notify(frame.cameraId);
        }, minInterval - since).unref(),
      );
  });

  return {
    list: () => [...latest.values()].map((l) => l.info),
    async jpeg(cameraId) {
      const entry = latest.get(cameraId);
      if (!entry) return undefined;
      if (!entry.jpeg) {
        // Encode from a snapshot: the buffer may be overwritten by the next frame while sharp works.
        const image = { ...entry.image, data: Buffer.from(entry.image.data) };
        entry.jpeg = renderOverlay(image, { score: entry.info.score, heatMap: entry.heatMap, boxes: entry.boxes }, { threshold: entry.thresholds.defect, quality: deps.quality ?? 80 });
        // A new frame replaces the entry (and its cached JPEG); a failed encode is retried next time.
        entry.jpeg.catch(() => {
          if (latest.get(cameraId) === entry) entry.jpeg = undefined;
        });
      }
      return { info: entry.info, jpeg: await entry.jpeg };
    },
    onFrame(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      off();
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
      listeners.clear();
    },
  };
}
