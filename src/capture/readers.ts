// Split ffmpeg's output streams into frames, each frame's bytes in a pooled buffer. A reader
// names where the next bytes belong (target()): the socket reads a frame's body straight into
// its buffer, so 2.76 MB of a 720p frame are not copied again after the kernel's copy. Bytes
// read elsewhere are copied in. When the pool is exhausted the frame's bytes are skipped and
// the frame is reported as undefined, so the caller can count it as dropped.

export type FrameCallback = (data: Buffer | undefined) => void;

/** Whether `chunk[offset]` is the very byte `buf[at]` (read there in place: nothing to copy). */
function inPlace(chunk: Buffer, offset: number, buf: Buffer, at: number): boolean {
  return chunk.buffer === buf.buffer && chunk.byteOffset + offset === buf.byteOffset + at;
}

export interface FrameReader {
  push(chunk: Buffer): void;
  /** Where the next read should land, or undefined for any buffer (the caller's scratch). */
  target(): Buffer | undefined;
}

/** Fixed-size frames (rawvideo: width*height*3 bytes each). */
export class RawFrameReader implements FrameReader {
  private current: Buffer | undefined;
  /** Whether a frame has begun: its buffer (or undefined, when the pool had none) is taken. */
  private started = false;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly acquire: () => Buffer | undefined,
    private readonly onFrame: FrameCallback,
  ) {}

  target(): Buffer | undefined {
    // A frame begins here only when a buffer is free; else its first bytes decide (push).
    if (!this.started) {
      const buf = this.acquire();
      if (!buf) return undefined;
      this.current = buf;
      this.started = true;
    }
    return this.current?.subarray(this.filled, this.frameBytes);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.started) {
        this.current = this.acquire();
        this.started = true;
      }
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      if (this.current && !inPlace(chunk, offset, this.current, this.filled)) chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        const done = this.current;
        this.current = undefined;
        this.started = false;
        this.filled = 0;
        this.onFrame(done);
      }
    }
  }
}

export interface PpmFrame {
  width: number;
  height: number;
  data: Buffer | undefined;
}

const MAX_HEADER = 64;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Binary PPM (P6) frames as written by `-c:v ppm -f image2pipe`: each frame carries its own
 * size, so the full-resolution output needs no probing and survives a resolution change.
 */
export class PpmFrameReader implements FrameReader {
  private readonly header = Buffer.alloc(MAX_HEADER);
  /** Where a header is read: small, so a read takes little of the body with it (that part is copied). */
  private readonly headerRead = Buffer.alloc(MAX_HEADER);
  private headerLen = 0;
  private tokens = 0;
  private inBody = false;
  private width = 0;
  private height = 0;
  private frameBytes = 0;
  private current: Buffer | undefined;
  private filled = 0;
  private failed = false;

  constructor(
    private readonly acquire: (width: number, height: number) => Buffer | undefined,
    private readonly onFrame: (frame: PpmFrame) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.failed) {
      if (!this.inBody) {
        const byte = chunk[offset]!;
        offset += 1;
        if (this.headerLen >= MAX_HEADER) {
          this.fail('full-resolution output: PPM header too long');
          return;
        }
        const prevWasToken = this.headerLen > 0 && !isSpace(this.header[this.headerLen - 1]!);
        this.header[this.headerLen++] = byte;
        if (isSpace(byte) && prevWasToken && ++this.tokens === 4 && !this.startBody()) return;
        continue;
      }
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      if (this.current && !inPlace(chunk, offset, this.current, this.filled)) chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        const frame: PpmFrame = { width: this.width, height: this.height, data: this.current };
        this.current = undefined;
        this.filled = 0;
        this.inBody = false;
        this.headerLen = 0;
        this.tokens = 0;
        this.onFrame(frame);
      }
    }
  }

  target(): Buffer | undefined {
    if (this.failed) return undefined;
    if (!this.inBody) return this.headerRead;
    return this.current?.subarray(this.filled, this.frameBytes);
  }

  private fail(message: string): void {
    // The stream is out of step; nothing after this point can be trusted.
    this.failed = true;
    this.onError(message);
  }

  private startBody(): boolean {
    const parts = this.header.toString('latin1', 0, this.headerLen).trim().split(/\s+/);
    const [magic, w, h, max] = parts;
    const width = Number(w);
    const height = Number(h);
    if (magic !== 'P6' || max !== '255' || !Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      this.fail(`full-resolution output: unexpected PPM header ${JSON.stringify(parts.join(' '))}`);
      return false;
    }
    this.width = width;
    this.height = height;
    this.frameBytes = width * height * 3;
    this.current = this.acquire(width, height);
    this.filled = 0;
    this.inBody = true;
    return true;
  }
}
