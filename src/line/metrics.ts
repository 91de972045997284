// Prometheus metrics (served at /metrics). Camera counters are read from the cameras'
// own status at scrape time, so there is one source of truth for them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CameraState, CameraStatus, Inspection } from '../common/types.js';

const STATES: CameraState[] = ['starting', 'online', 'reconnecting', 'offline', 'stopped'];

export interface Metrics {
  readonly registry: Registry;
  /** Records a stored inspection (verdict counter, latency histograms); storedAt is when its commit returned. */
  observeInspection(inspection: Inspection, storedAt: number): void;
  observeFailure(): void;
  /** An image not kept because of pressure (src/line/sampling.ts ShedLevel): the verdict was stored without it. */
}

export function createMetrics(deps: { cameras: () => CameraStatus[]; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  if (deps.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'visor_' });

  // Counters owned by the cameras, read at scrape time.
  const perCamera = (name: string, help: string, pick: (s: CameraStatus) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['camera'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of deps.cameras()) this.inc({ camera: s.cameraId }, pick(s));
      },
    });
  perCamera('visor_camera_frames_total', 'Frames read from the camera.', (s) => s.framesIn);
  perCamera('visor_camera_frames_dropped_total', 'Frames dropped because a newer one arrived before inference took it.', (s) => s.framesDropped);
  perCamera('visor_camera_frames_lost_total', 'Frames a live stream sent (at the camera rate) that were never read.', (s) => s.framesLost ?? 0);
  perCamera('visor_camera_frames_skipped_total', 'Frames not inspected because the camera is inspected only on trigger (stations[].inspect: triggered) and no trigger asked for them.', (s) => s.framesSkipped ?? 0);
  perCamera('visor_camera_frames_corrupt_total', 'Frames that could not be decoded and were skipped.', (s) => s.framesCorrupt);
  perCamera('visor_camera_frames_oversized_total', 'Images over cameras[].imageLimits (pixels, bytes), skipped without decoding.', (s) => s.framesOversized ?? 0);
  perCamera('visor_camera_reconnects_total', 'Times the camera source was restarted.', (s) => s.reconnects);
  new Gauge({
    name: 'visor_camera_state',
    help: 'Camera state: 1 for the current state, 0 for the others.',
    labelNames: ['camera', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of deps.cameras()) for (const state of STATES) this.set({ camera: s.cameraId, state }, s.state === state ? 1 : 0);
    },
  });

  const inspections = new Counter({ name: 'visor_inspections_total', help: 'Inspections by verdict.', labelNames: ['camera', 'verdict'], registers: [registry] });
  const inference = new Histogram({
    name: 'visor_inference_seconds',
    help: 'Model run time (session.run) per frame.',
    labelNames: ['camera'],
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [registry],
  });
  const endToEnd = new Histogram({
    name: 'visor_frame_to_stored_seconds',
    help: 'Frame capture to inspection stored.',
    labelNames: ['camera'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const failures = new Counter({ name: "visor_inspection_failures_total", help: "Frames that could not be inspected or stored (see the log).", registers: [registry] });

  return {
    registry,
    observeInspection(i, storedAt) {
      inspections.inc({ camera: i.cameraId, verdict: i.verdict });
      inference.observe({ camera: i.cameraId }, i.timings.inferenceMs / 1000);
      endToEnd.observe({ camera: i.cameraId }, Math.max(0, storedAt - i.capturedAt) / 1000);
    },
    observeFailure() {
      failures.inc();
    },
  };
}
