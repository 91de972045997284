// Fixed-capacity pool of equally sized frame buffers: capture reads every frame into one of
// these, so steady-state capture allocates nothing per frame.

export class BufferPool {
  readonly bytes: number;
  readonly capacity: number;
  private readonly free: Buffer[] = [];
  private allocatedCount = 0;

  constructor(bytes: number, capacity: number) {
    this.bytes = bytes;
    this.capacity = capacity;
  }

  /** Buffers created so far; never exceeds `capacity`. */
  get allocated(): number {
    return this.allocatedCount;
  }

  /** Buffers ready to hand out right now. */
  get available(): number {
    return this.free.length + (this.capacity - this.allocatedCount);
  }

  /** A free buffer, or undefined when every buffer is in use (the caller drops the frame). */
  acquire(): Buffer | undefined {
    const buf = this.free.pop();
    if (buf) return buf;
    if (this.allocatedCount >= this.capacity) return undefined;
    this.allocatedCount += 1;
    // alloc (not allocUnsafe) so each buffer owns its memory rather than sharing Node's slab.
    return Buffer.alloc(this.bytes);
  }

  release(buf: Buffer): void {
    // A buffer of another size belongs to a pool that was replaced (resolution changed): let it go.
    if (buf.length !== this.bytes || this.free.length >= this.allocatedCount) return;
    if (this.free.includes(buf)) return;
    this.free.push(buf);
  }
}

/** The pools of one camera: inference-size frames, and full-resolution frames of the current source size. */
export class FramePools {
  readonly inference: BufferPool;
  private fullPool: BufferPool | undefined;

  constructor(
    inferenceBytes: number,
    private readonly capacity: number,
  ) {
    this.inference = new BufferPool(inferenceBytes, capacity);
  }

  /** The full-resolution pool for this size; a new one when the source changed resolution. */
  full(width: number, height: number): BufferPool {
    const bytes = width * height * 3;
    if (!this.fullPool || this.fullPool.bytes !== bytes) this.fullPool = new BufferPool(bytes, this.capacity);
    return this.fullPool;
  }

  releaseFull(buf: Buffer): void {
    this.fullPool?.release(buf);
  }
}
