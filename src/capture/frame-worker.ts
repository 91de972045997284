// The frame reader thread: reads every ffmpeg camera's frame sockets into shared-memory
// buffers, off the JS thread the line runs on. ffmpeg (5.x) runs its input, decoder and
// outputs in one loop, so while nobody reads its output it stops reading the camera as well:
// over RTSP/UDP the packets that arrive meanwhile are lost. A socket holds ~200 KB, a 720p
// frame is 2.76 MB, and the line's thread is often busy for tens of ms (session.run, JPEG
// hand-over, SQLite): read there, 10 cameras at 15 fps lost 72% of their frames. Here the
// sockets are drained as fast as ffmpeg writes, whatever the line is doing; the line gets one
// message per frame, pointing at buffers it hands back when done (frame-worker-client.ts).
import fs from 'node:fs';
import net from 'node:net';
import { parentPort } from 'node:worker_threads';
import { PpmFrameReader, RawFrameReader, type FrameReader, type PpmFrame } from './readers.js';

/** A buffer of one of a session's pools. */
export interface SlotRef {
  pool: number;
  index: number;
}

export interface OpenSession {
  op: 'open';
  session: number;
  /** The folder the sockets are in (removed once all are connected, or when the session ends). */
  dir: string;
  inference: { path: string; bytes: number };
  full?: { path: string };
  /** Buffers per pool: frames the line may hold at once, per output. */
  capacity: number;
}

export type ToFrameWorker =
  | OpenSession
  | { op: 'release'; session: number; slots: SlotRef[] }
  /** ffmpeg exited: stop trying to connect; the session ends once what was written is read. */
  | { op: 'close'; session: number };

export type FromFrameWorker =
  | { op: 'frame'; session: number; readAt: number; inference: { buffer: SharedArrayBuffer; slot: SlotRef }; full?: { buffer: SharedArrayBuffer; slot: SlotRef; width: number; height: number } }
  /** A frame was read but the line held every buffer of its pool. */
  | { op: 'dropped'; session: number; readAt: number }
  /** The session's output cannot be trusted any more (the line aborts ffmpeg). */
  | { op: 'failed'; session: number; message: string }
  /** Every socket has closed (or was never reached): no more messages for this session. */
  | { op: 'ended'; session: number };

/** Bound on frames read from one output while the other lags behind; beyond it the outputs are out of step. */
const MAX_UNPAIRED = 32;
/** Between attempts to connect (ffmpeg listens once its input is open). */
const CONNECT_RETRY_MS = 25;
/** What one read of a socket can take. */
const READ_BYTES = 1 << 20;

let nextPoolId = 1;

/** Equally sized buffers in shared memory, handed to the line and back by index. */
class SharedPool {
  readonly id = nextPoolId++;
  private readonly slots: Buffer[] = [];
  private readonly shared: SharedArrayBuffer[] = [];
  private readonly indexOf = new Map<Buffer, number>();
  private readonly free: number[] = [];

  constructor(
    readonly bytes: number,
    private readonly capacity: number,
  ) {}

  acquire(): Buffer | undefined {
    let index = this.free.pop();
    if (index === undefined) {
      if (this.slots.length >= this.capacity) return undefined;
      index = this.slots.length;
      const shared = new SharedArrayBuffer(this.bytes);
      const buf = Buffer.from(shared);
      this.slots.push(buf);
      this.shared.push(shared);
      this.indexOf.set(buf, index);
    }
    return this.slots[index];
  }

  ref(buf: Buffer): { buffer: SharedArrayBuffer; slot: SlotRef } {
    const index = this.indexOf.get(buf)!;
    return { buffer: this.shared[index]!, slot: { pool: this.id, index } };
  }

  release(index: number): void {
    if (index < 0 || index >= this.slots.length || this.free.includes(index)) return;
    this.free.push(index);
  }

  /** A buffer not handed out (read while the other output was out of step, or half filled). */
  put(buf: Buffer): void {
    const index = this.indexOf.get(buf);
    if (index !== undefined) this.release(index);
  }
}

interface Session {
  id: number;
  inferencePool: SharedPool;
  fullPool: SharedPool | undefined;
  capacity: number;
  inferenceQueue: (Buffer | undefined)[];
  fullQueue: PpmFrame[];
  hasFull: boolean;
  /** Sockets not yet connected, and whether we still try. */
  pending: number;
  open: number;
  closing: boolean;
  failed: boolean;
  ended: boolean;
  dir: string;
  retries: Set<ReturnType<typeof setTimeout>>;
}

const sessions = new Map<number, Session>();
const port = parentPort!;
const send = (message: FromFrameWorker): void => port.postMessage(message);

function fail(s: Session, message: string): void {
  if (s.failed || s.ended) return;
  s.failed = true;
  send({ op: 'failed', session: s.id, message });
}

function fullPool(s: Session, width: number, height: number): SharedPool {
  const bytes = width * height * 3;
  // A resolution change gets a pool of its own; buffers of the old one still out are let go on release.
  if (!s.fullPool || s.fullPool.bytes !== bytes) s.fullPool = new SharedPool(bytes, s.capacity);
  return s.fullPool;
}

function pair(s: Session): void {
  if (s.ended) return;
  while (s.inferenceQueue.length > 0 && (!s.hasFull || s.fullQueue.length > 0)) {
    const inference = s.inferenceQueue.shift();
    const full = s.hasFull ? s.fullQueue.shift() : undefined;
    if (s.failed || !inference || (full && !full.data)) {
      if (inference) s.inferencePool.put(inference);
      if (full?.data) s.fullPool?.put(full.data);
      if (!s.failed) send({ op: 'dropped', session: s.id, readAt: Date.now() });
      continue;
    }
    send({
      op: 'frame',
      session: s.id,
      readAt: Date.now(),
      inference: s.inferencePool.ref(inference),
      ...(full?.data ? { full: { ...s.fullPool!.ref(full.data), width: full.width, height: full.height } } : {}),
    });
  }
  if (s.inferenceQueue.length > MAX_UNPAIRED || s.fullQueue.length > MAX_UNPAIRED) fail(s, 'ffmpeg outputs out of step');
}

function removeDir(s: Session): void {
  fs.rmSync(s.dir, { recursive: true, force: true });
}

function maybeEnd(s: Session): void {
  if (s.ended || s.open > 0 || (s.pending > 0 && !s.closing)) return;
  s.ended = true;
  for (const t of s.retries) clearTimeout(t);
  s.retries.clear();
  removeDir(s);
  sessions.delete(s.id);
  send({ op: 'ended', session: s.id });
}

function connect(s: Session, socketPath: string, what: string, reader: FrameReader): void {
  // Reads land where the reader wants them (a frame's own buffer), else here.
  const scratch = Buffer.allocUnsafe(READ_BYTES);
  let connected = false;
  const attempt = (): void => {
    if (s.closing || s.ended) return;
    const socket = net.connect({
      path: socketPath,
      onread: {
        buffer: () => reader.target() ?? scratch,
        callback: (n: number, buf: Uint8Array) => {
          reader.push(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    });
    socket.once('connect', () => {
      if (s.ended) return void socket.destroy();
      connected = true;
      s.pending -= 1;
      s.open += 1;
      if (s.pending === 0) removeDir(s);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return fail(s, `${what}: ${err.message}`);
      // Not listening yet (the input is still being opened): try again shortly.
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        if (s.closing) return maybeEnd(s);
        const t = setTimeout(() => {
          s.retries.delete(t);
          attempt();
        }, CONNECT_RETRY_MS);
        s.retries.add(t);
      } else {
        fail(s, `${what}: ${err.message}`);
        s.closing = true;
        maybeEnd(s);
      }
    });
    socket.once('close', () => {
      if (!connected) return;
      s.open -= 1;
      maybeEnd(s);
    });
  };
  attempt();
}

function open(m: OpenSession): void {
  const s: Session = {
    id: m.session,
    inferencePool: new SharedPool(m.inference.bytes, m.capacity),
    fullPool: undefined,
    capacity: m.capacity,
    inferenceQueue: [],
    fullQueue: [],
    hasFull: m.full !== undefined,
    pending: m.full ? 2 : 1,
    open: 0,
    closing: false,
    failed: false,
    ended: false,
    dir: m.dir,
    retries: new Set(),
  };
  sessions.set(s.id, s);
  const raw = new RawFrameReader(
    m.inference.bytes,
    () => s.inferencePool.acquire(),
    (data) => {
      s.inferenceQueue.push(data);
      pair(s);
    },
  );
  connect(s, m.inference.path, 'inference output', raw);
  if (m.full) {
    const ppm = new PpmFrameReader(
      (width, height) => fullPool(s, width, height).acquire(),
      (frame) => {
        s.fullQueue.push(frame);
        pair(s);
      },
      (message) => fail(s, message),
    );
    connect(s, m.full.path, 'full-resolution output', ppm);
  }
}

port.on('message', (m: ToFrameWorker) => {
  const s = sessions.get(m.session);
  if (m.op === 'open') return open(m);
  if (!s) return; // ended already: late releases of its buffers are let go
  if (m.op === 'release') {
    for (const slot of m.slots) {
      if (slot.pool === s.inferencePool.id) s.inferencePool.release(slot.index);
      else if (slot.pool === s.fullPool?.id) s.fullPool.release(slot.index);
    }
    return;
  }
  // close: ffmpeg has exited; sockets it had connected deliver what it wrote, then close.
  s.closing = true;
  for (const t of s.retries) clearTimeout(t);
  s.retries.clear();
  maybeEnd(s);
});
