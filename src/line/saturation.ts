// The line's own pressure source for the shared image-shedding contract (sampling.ts): when
// the image encoders fall behind, ok images are shed first, then uncertain ones; defects are
// always kept (their camera waits instead). It also says, for health, whether the line is
// saturated: images being shed, or frames superseded before the model took them.
import type { ComponentHealth } from './health.js';
import type { PressureSource, ShedLevel } from './sampling.js';

export interface LineSaturationDeps {
  /** Image encodes at once (JPEG work runs on libuv's threads; more in flight only queues there). */
  maxEncodes: number;
  /** Frames that reached the model and frames superseded before it took them, per camera so far (read at health time). */
  frames: () => { cameraId: string; inspected: number; superseded: number }[];
  now?: () => number;
}

export interface LineSaturation extends PressureSource {
  /** An image job was queued (+1) or finished (−1). */
  imageJobs(delta: number): void;
  /** Image jobs queued or encoding now. */
  readonly pendingImages: number;
  health(): ComponentHealth;
}

/** Share of frames superseded at the model above which a camera counts as not keeping up. */
const SUPERSEDED_SATURATED = 0.05;
/** Health compares counters over this window. */
const WINDOW_MS = 10_000;

export function createLineSaturation(deps: LineSaturationDeps): LineSaturation {
  const now = deps.now ?? Date.now;
  let pending = 0;
  let sheddingSince: number | undefined;
  let previous: { at: number; frames: Map<string, { inspected: number; superseded: number }> } | undefined;
  let lastShare = new Map<string, number>();

  const level = (): ShedLevel => {
    // Every encoder busy and as many waiting: ok images go. Twice that waiting: uncertain too.
    if (pending >= 3 * deps.maxEncodes) return 'uncertain';
    if (pending >= 2 * deps.maxEncodes) return 'ok';
    return 'none';
  };

  /** Per camera, the share of frames superseded at the model over the last window. */
  const supersededShare = (): Map<string, number> => {
    const t = now();
    const frames = new Map(deps.frames().map((f) => [f.cameraId, { inspected: f.inspected, superseded: f.superseded }]));
    if (previous && t - previous.at < WINDOW_MS) return lastShare;
    const share = new Map<string, number>();
    for (const [id, f] of frames) {
      const before = previous?.frames.get(id) ?? { inspected: 0, superseded: 0 };
      const inspected = f.inspected - before.inspected;
      const superseded = f.superseded - before.superseded;
      share.set(id, inspected + superseded > 0 ? superseded / (inspected + superseded) : 0);
    }
    previous = { at: t, frames };
    lastShare = share;
    return share;
  };

  return {
    name: 'line',
    level() {
      const l = level();
      if (l === 'none') sheddingSince = undefined;
      else sheddingSince ??= now();
      return l;
    },
    reason() {
      const l = level();
      return l === 'none' ? undefined : `${pending} images waiting for ${deps.maxEncodes} encoders: ${l === 'ok' ? 'ok' : 'ok and uncertain'} images are not kept`;
    },
    imageJobs(delta) {
      pending = Math.max(0, pending + delta);
    },
    get pendingImages() {
      return pending;
    },
    health() {
      const l = level();
      const share = supersededShare();
      const behind = [...share].filter(([, s]) => s > SUPERSEDED_SATURATED).map(([id]) => id);
      const saturated = l !== 'none' || behind.length > 0;
      return {
        // The line still inspects every camera at a fair share: saturation is shown, not a failure.
        ok: true,
        saturated,
        shedLevel: l,
        pendingImages: pending,
        ...(sheddingSince !== undefined ? { sheddingSinceMs: now() - sheddingSince } : {}),
        ...(behind.length > 0 ? { camerasBehind: behind, supersededShare: Object.fromEntries([...share].map(([id, s]) => [id, Number(s.toFixed(3))])) } : {}),
      };
    },
  };
}
