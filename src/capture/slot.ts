// One-frame slot per camera: capture never queues. A new frame replaces one that is still
// waiting (newest wins, the old one is released and counted); the consumer awaits the next.
import type { Frame } from '../common/types.js';

interface Waiter {
  resolve: (frame: Frame | undefined) => void;
  cleanup: () => void;
}

export class FrameSlot {
  private frame: Frame | undefined;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private droppedCount = 0;

  /** Frames replaced before anyone took them. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** True while a frame waits to be taken. */
  get full(): boolean {
    return this.frame !== undefined;
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
    if (this.frame) {
      this.frame.release();
      this.droppedCount += 1;
    }
    this.frame = frame;
  }

  /**
   * The newest frame: a frame waiting in the slot replaces `held` (taken earlier and not yet
   * used, now stale; it is released and counted as dropped), else `held` itself.
   */
  fresher(held: Frame): Frame {
    if (!this.frame) return held;
    const newer = this.frame;
    this.frame = undefined;
    held.release();
    this.droppedCount += 1;
    return newer;
  }

  /** A frame taken and then not used (a newer one is wanted): released and counted as dropped. */
  drop(frame: Frame): void {
    frame.release();
    this.droppedCount += 1;
  }

  /** The waiting frame, or the next one put; undefined once closed or when `signal` aborts. */
  take(signal?: AbortSignal): Promise<Frame | undefined> {
    if (this.frame) {
      const frame = this.frame;
      this.frame = undefined;
      return Promise.resolve(frame);
    }
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

  /** No more frames will come: waiters get undefined, a frame still waiting can still be taken. */
  end(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.cleanup();
      waiter.resolve(undefined);
    }
  }

  /** Like end(), and the waiting frame (if any) is released too. */
  close(): void {
    this.end();
    if (this.frame) {
      this.frame.release();
      this.frame = undefined;
    }
  }
}
