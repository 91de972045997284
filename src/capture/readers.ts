// Split ffmpeg's output pipes into frames, copying each frame's bytes straight into a pooled
// buffer. When the pool is exhausted the frame's bytes are skipped (no scratch allocation) and
// the frame is reported as undefined, so the caller can count it as dropped.

export type FrameCallback = (data: Buffer | undefined) => void;

/** Fixed-size frames (rawvideo: width*height*3 bytes each). */
export class RawFrameReader {
  private current: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly acquire: () => Buffer | undefined,
    private readonly onFrame: FrameCallback,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.filled === 0) this.current = this.acquire();
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      if (this.current) chunk.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        const done = this.current;
        this.current = undefined;
        this.filled = 0;
        this.onFrame(done);
      }
    }
  }

  /** The partly filled buffer, if any (stream ended mid-frame), so it can go back to its pool. */
  takePartial(): Buffer | undefined {
    const partial = this.current;
    this.current = undefined;
    this.filled = 0;
    return partial;
  }
}

export interface JpegFrame {
  width: number;
  height: number;
  /** One complete JPEG file, in a buffer of its own. */
  data: Buffer;
}

/** Bound on one JPEG: beyond it the stream is taken to be out of step. */
const MAX_JPEG_BYTES = 64 * 1024 * 1024;

/**
 * Baseline or progressive JPEG files one after the other, as written by `-c:v mjpeg -f
 * image2pipe`: each is split off at its end-of-image marker (found by walking the marker
 * segments, then the entropy-coded data, where a 0xFF byte is always stuffed or a restart
 * marker), with its size from the frame header, so a resolution change is harmless.
 */
export class JpegFrameReader {
  private buf = Buffer.alloc(256 * 1024);
  private len = 0;
  /** Where the walk through the current file goes on. */
  private pos = 0;
  /** Inside entropy-coded data (after a start-of-scan segment). */
  private inScan = false;
  private width = 0;
  private height = 0;
  private failed = false;

  constructor(
    private readonly onFrame: (frame: JpegFrame) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    if (this.len + chunk.length > this.buf.length) {
      if (this.len + chunk.length > MAX_JPEG_BYTES) return this.fail(`full-resolution output: a JPEG over ${MAX_JPEG_BYTES} bytes`);
      const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    chunk.copy(this.buf, this.len);
    this.len += chunk.length;
    while (!this.failed && this.walk());
  }

  /** Walks as far as the bytes go; true when a file was completed (there may be another). */
  private walk(): boolean {
    const b = this.buf;
    if (this.pos === 0) {
      if (this.len < 2) return false;
      if (b[0] !== 0xff || b[1] !== 0xd8) {
        this.fail('full-resolution output: not a JPEG (no start-of-image marker)');
        return false;
      }
      this.pos = 2;
    }
    for (;;) {
      if (this.inScan) {
        // Entropy-coded data ends at the first 0xFF that is neither stuffing (FF 00) nor a restart marker (FF D0–D7).
        let p = this.pos;
        while (p + 1 < this.len && !(b[p] === 0xff && b[p + 1] !== 0x00 && (b[p + 1]! < 0xd0 || b[p + 1]! > 0xd7))) p++;
        this.pos = p;
        if (p + 1 >= this.len) return false;
        this.inScan = false;
      }
      let p = this.pos;
      // Fill bytes (FF FF …) may come before a marker.
      while (p + 1 < this.len && b[p] === 0xff && b[p + 1] === 0xff) p++;
      if (p + 1 >= this.len) return false;
      if (b[p] !== 0xff) {
        this.fail('full-resolution output: JPEG out of step (no marker where one belongs)');
        return false;
      }
      const marker = b[p + 1]!;
      if (marker === 0xd9) return this.complete(p + 2);
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        this.pos = p + 2;
        continue;
      }
      if (p + 4 > this.len) return false;
      const segment = b.readUInt16BE(p + 2);
      if (p + 2 + segment > this.len) return false;
      // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        this.height = b.readUInt16BE(p + 5);
        this.width = b.readUInt16BE(p + 7);
      }
      this.pos = p + 2 + segment;
      if (marker === 0xda) this.inScan = true;
    }
  }

  private complete(end: number): boolean {
    if (this.width <= 0 || this.height <= 0) {
      this.fail('full-resolution output: a JPEG without a frame header');
      return false;
    }
    const frame: JpegFrame = { width: this.width, height: this.height, data: Buffer.from(this.buf.subarray(0, end)) };
    this.buf.copyWithin(0, end, this.len);
    this.len -= end;
    this.pos = 0;
    this.width = 0;
    this.height = 0;
    this.onFrame(frame);
    return true;
  }

  private fail(message: string): void {
    // The stream is out of step; nothing after this point can be trusted.
    this.failed = true;
    this.onError(message);
  }
}
