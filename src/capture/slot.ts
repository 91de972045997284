// Per camera, the frames waiting for the consumer: capture never queues beyond two. While the
// consumer keeps up, frames are taken in order: two that arrive close together (network and
// decoder jitter) are both inspected. Once a waiting frame is older than `staleMs` (one frame
// interval) a newer one replaces it: newest wins, the old one is released and counted.
import type { Frame } from '../common/types.js';

interface Waiter {
  resolve: (frame: Frame | undefined) => void;
  cleanup: () => void;
}

/** Frames that may wait: the one being replaced by jitter, and the one after it. */
const DEPTH = 2;

export interface FrameSlotOptions {
  /** A waiting frame this old (ms since capturedAt) gives way to a newer one; 0 (default): the newest always wins. */
  staleMs?: number;
  now?: () => number;
}

export class FrameSlot {
  private readonly frames: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private droppedCount = 0;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(options: FrameSlotOptions = {}) {
    this.staleMs = options.staleMs ?? 0;
    this.now = options.now ?? Date.now;
  }

  /** Frames replaced before anyone took them. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** True while a frame waits to be taken. */
  get full(): boolean {
    return this.frames.length > 0;
  }

  private stale(frame: Frame): boolean {
    return this.now() - frame.capturedAt >= this.staleMs;
  }

  /** Drops waiting frames that a newer waiting one replaces. */
  private prune(): void {
    while (this.frames.length > DEPTH || (this.frames.length > 1 && this.stale(this.frames[0]!))) {
      this.frames.shift()!.release();
      this.droppedCount += 1;
    }
  }

  put(frame: Frame): void {
    if (this.closed) {
      frame.release();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.cleanup();
      waiter.resolve(frame);
      return;
    }
    this.frames.push(frame);
    this.prune();
  }

  /**
   * The frame to use instead of `held` (taken earlier and not yet used): the next waiting one
   * when `held` has gone stale (it is released and counted as dropped), else `held` itself.
   */
  fresher(held: Frame): Frame {
    if (this.frames.length === 0 || !this.stale(held)) return held;
    held.release();
    this.droppedCount += 1;
    this.prune();
    return this.frames.shift()!;
  }

  /** A frame taken and then not used (a newer one is wanted): released and counted as dropped. */
  drop(frame: Frame): void {
    frame.release();
    this.droppedCount += 1;
  }

  /** The oldest waiting frame that is not stale (the newest when all are), or the next one put; undefined once closed or when `signal` aborts. */
  take(signal?: AbortSignal): Promise<Frame | undefined> {
    this.prune();
    const waiting = this.frames.shift();
    if (waiting) return Promise.resolve(waiting);
    if (this.closed || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      const waiter: Waiter = {
        resolve,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** No more frames will come: waiters get undefined, frames still waiting can still be taken. */
  end(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.cleanup();
      waiter.resolve(undefined);
    }
  }

  /** Like end(), and the waiting frames are released too. */
  close(): void {
    this.end();
    for (const frame of this.frames.splice(0)) frame.release();
  }
}
