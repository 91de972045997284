// What the camera's watchdog drives: one attempt at reading a source, until it fails or is stopped.
import type { FramePools } from './pool.js';

/** One frame's pixels, in buffers taken from the camera's pools. */
export interface FrameParts {
  /** rgb24 at the model's frame size (ROI and geometry applied). */
  inference: Buffer;
  /** rgb24 of the whole field of view, when full resolution is kept. */
  full?: { width: number; height: number; data: Buffer };
  sourceFile?: string;
  /** When the frame was read (Date.now), if not just now: frames read on the frame reader thread. */
  readAt?: number;
  /** Hands the buffers back when they are not the camera's own pools' (frames read on the frame reader thread). */
  release?: () => void;
}

export type SessionOutcome = { ok: true } | { ok: false; error: string };

export interface SessionHooks {
  frame(parts: FrameParts): void;
  /** A frame was read (at `readAt`, Date.now, when not just now) but no pool buffer was free (the consumer holds them all). */
  dropped(readAt?: number): void;
  /** One image could not be decoded; it was skipped. */
  corrupt(what: string, err: unknown): void;
  /** The attempt is over: the source ended (ok) or failed. Not called after stop(). */
  end(outcome: SessionOutcome): void;
}

export interface SourceSession {
  /** Ends the attempt as a failure with this reason (used by the stall watchdog). */
  abort(reason: string): void;
  /** Ends the attempt; resolves once nothing of it runs any more (child process exited). */
  stop(): Promise<void>;
}

/** Timer functions, injectable so tests can drive them. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  // Looked up at call time so fake timers installed later still apply.
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function releaseParts(pools: FramePools, parts: FrameParts): void {
  if (parts.release) return parts.release();
  pools.inference.release(parts.inference);
  if (parts.full) pools.releaseFull(parts.full.data);
}
