// The line's side of the frame reader thread (frame-worker.ts): one thread for every ffmpeg
// camera of the process, started with the first and kept (unreferenced, so it never holds the
// process open). A camera's session opens a stream on it; frames arrive as FrameParts over
// shared memory, and releasing them hands the buffers back to the thread.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FrameParts } from './session.js';
import type { FromFrameWorker, SlotRef, ToFrameWorker } from './frame-worker.js';
import { workerEntry } from '../common/worker-entry.js';

/** Where one session's ffmpeg listens: a private (0700) folder of its own under the temp folder. */
export interface FrameSockets {
  dir: string;
  inference: string;
  full?: string;
}

export function frameSockets(fullResolution: boolean): FrameSockets {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visor-frames-'));
  return { dir, inference: path.join(dir, 'inference.sock'), ...(fullResolution ? { full: path.join(dir, 'full.sock') } : {}) };
}

export interface FrameStreamHooks {
  frame(parts: FrameParts): void;
  /** A frame was read (at `readAt`, Date.now) but every buffer of its pool was held by the line. */
  dropped(readAt: number): void;
  /** The output cannot be trusted any more (out of step, a socket error): the caller stops ffmpeg. */
  failed(message: string): void;
}

export interface FrameStream {
  /** ffmpeg has exited: stop waiting for sockets it never opened; `ended` follows once what it wrote was read. */
  close(): void;
  /** Every socket has closed (or was never reached); no frame comes after it. */
  readonly ended: Promise<void>;
}

interface Open {
  hooks: FrameStreamHooks;
  dir: string;
  end: () => void;
}

let thread: { worker: Worker; streams: Map<number, Open> } | undefined;
let nextSession = 1;


function frameThread(): NonNullable<typeof thread> {
  if (thread) return thread;
  const { url, execArgv } = workerEntry(import.meta.url, 'frame-worker');
  const worker = new Worker(url, { execArgv, name: 'camera frames' });
  const streams = new Map<number, Open>();
  const current = { worker, streams };
  thread = current;
  worker.on('message', (m: FromFrameWorker) => {
    const open = streams.get(m.session);
    if (!open) return;
    if (m.op === 'frame') {
      const slots: SlotRef[] = [m.inference.slot];
      const parts: FrameParts = { inference: Buffer.from(m.inference.buffer), readAt: m.readAt };
      if (m.full) {
        slots.push(m.full.slot);
        parts.full = { width: m.full.width, height: m.full.height, data: Buffer.from(m.full.buffer) };
      }
      let released = false;
      parts.release = () => {
        if (released) return;
        released = true;
        post(current, { op: 'release', session: m.session, slots });
      };
      open.hooks.frame(parts);
    } else if (m.op === 'dropped') open.hooks.dropped(m.readAt);
    else if (m.op === 'failed') open.hooks.failed(m.message);
    else {
      streams.delete(m.session);
      open.end();
    }
  });
  // The thread is gone (it should not happen): every stream fails and ends; the next opens a new thread.
  const lost = (why: string): void => {
    if (thread === current) thread = undefined;
    for (const open of streams.values()) {
      open.hooks.failed(`camera frame reader thread ${why}`);
      fs.rmSync(open.dir, { recursive: true, force: true });
      open.end();
    }
    streams.clear();
  };
  worker.on('error', (err) => lost(`failed: ${err.message}`));
  worker.on('exit', (code) => lost(`exited (code ${code})`));
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  return current;
}

function post(t: NonNullable<typeof thread>, message: ToFrameWorker): void {
  if (thread === t) t.worker.postMessage(message);
}

/** Reads one ffmpeg session's frame sockets on the frame reader thread. */
export function openFrameStream(sockets: FrameSockets, spec: { inferenceBytes: number; capacity: number }, hooks: FrameStreamHooks): FrameStream {
  const t = frameThread();
  const session = nextSession++;
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  t.streams.set(session, { hooks, dir: sockets.dir, end });
  post(t, {
    op: 'open',
    session,
    dir: sockets.dir,
    inference: { path: sockets.inference, bytes: spec.inferenceBytes },
    ...(sockets.full ? { full: { path: sockets.full } } : {}),
    capacity: spec.capacity,
  });
  return {
    ended,
    close: () => post(t, { op: 'close', session }),
  };
}
