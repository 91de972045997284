// ffmpeg-backed sources (RTSP, V4L2, video files): one child process per attempt, raw rgb24
// frames at inference size on stdout and, optionally, full-resolution PPM frames on a Unix
// socket ffmpeg listens on (read into one reused buffer: a 720p frame is 2.76 MB, and a pipe
// hands it over as ~40 fresh chunks, whose garbage cost the line more CPU per frame than the model).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../common/log.js';
import type { FramePools } from './pool.js';
import { PpmFrameReader, RawFrameReader, type PpmFrame } from './readers.js';
import type { SessionHooks, SourceSession, Timers } from './session.js';
import type { Roi } from './source.js';
import { redactText } from '../common/redact.js';
import { ffmpegFrameFilter, type Resize } from '../common/geometry.js';

export interface FfmpegInput {
  kind: 'rtsp' | 'v4l2' | 'file';
  /** URL, device path or absolute file path. */
  input: string;
  fps: number;
  loop: boolean;
  rtspTransport: 'tcp' | 'udp';
  /** The model's frame size (src/common/geometry.ts). */
  inferenceSize: { width: number; height: number };
  /** How the ROI is brought to inferenceSize; default stretch. */
  resize?: Resize;
  /** Gray level of the pad bands when resize is pad (the model's geometry.padValue); default 0. */
  padValue?: number;
  roi?: Roi;
  fullResolution: boolean;
  /** Where ffmpeg listens for the full-resolution output (fullResolutionSocket()); needed with fullResolution. */
  fullSocket?: string;
}

/** A path in a private (0700) folder of its own, for one session's full-resolution socket. */
export function fullResolutionSocket(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'visor-full-')), 'frames.sock');
}

function removeSocket(socketPath: string): void {
  fs.rmSync(path.dirname(socketPath), { recursive: true, force: true });
}

function num(value: number): string {
  // Plain decimal notation: ffmpeg's expression parser does not need exponents here.
  return Number(value.toFixed(6)).toString();
}

/**
 * A frame-rate cap that only drops: at most one frame per 1/fps slot of the stream's time.
 * ffmpeg's fps filter keeps a constant rate by duplicating the last frame into every gap, so
 * frames lost on the way (UDP, a pipe read late) came back as copies: inspected again, and
 * counted as read rather than lost (11–48 per camera in 10 s at six cameras). Frames without
 * a timestamp pass.
 */
export function frameRateCap(fps: number): string {
  const slot = (t: string) => `floor(${t}*${num(fps)}+0.5)`;
  return `select='isnan(t)+isnan(prev_selected_t)+gte(${slot('t')}-${slot('prev_selected_t')},1)'`;
}

export function buildFfmpegArgs(o: FfmpegInput): string[] {
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning'];
  // A live stream needs little probing; the default 5 s analysis delays the first frame by seconds.
  // nobuffer: the packets read while probing are not decoded afterwards, so a connection does
  // not start with a burst of stale frames (a second's worth, all at once, beyond the camera rate).
  if (o.kind === 'rtsp') args.push('-rtsp_transport', o.rtspTransport, '-analyzeduration', '1000000', '-fflags', 'nobuffer');
  if (o.kind === 'v4l2') args.push('-f', 'v4l2');
  // -re: replay files at their own frame rate, as a camera would deliver them.
  if (o.kind === 'file') args.push('-re', ...(o.loop ? ['-stream_loop', '-1'] : []));
  args.push('-i', o.input);

  const crop = o.roi ? `crop=w=iw*${num(o.roi.width)}:h=ih*${num(o.roi.height)}:x=iw*${num(o.roi.x)}:y=ih*${num(o.roi.y)},` : '';
  const toInference = `${crop}${ffmpegFrameFilter(o.resize ?? 'stretch', o.inferenceSize, o.padValue)}`;
  const fps = frameRateCap(o.fps);
  // passthrough: one output frame per filtered frame, never duplicated or dropped by the muxer,
  // so the n-th inference frame and the n-th full frame are the same picture.
  const rawOut = ['-an', '-sn', '-dn', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  if (!o.fullResolution) {
    args.push('-map', '0:v:0', '-vf', `${fps},${toInference}`, ...rawOut);
    return args;
  }
  if (o.fullSocket === undefined) throw new Error('buildFfmpegArgs: fullResolution needs fullSocket');
  args.push(
    '-filter_complex',
    `[0:v:0]${fps},split=2[inf0][full0];[inf0]${toInference}[inf];[full0]format=rgb24[full]`,
    '-map',
    '[inf]',
    ...rawOut,
    // PPM carries the frame size in every frame: no probing, and a resolution change is harmless.
    '-map',
    '[full]',
    '-fps_mode',
    'passthrough',
    '-c:v',
    'ppm',
    '-f',
    'image2pipe',
    '-listen',
    '1',
    `unix:${o.fullSocket}`,
  );
  return args;
}

export interface FfmpegSessionDeps {
  ffmpegPath: string;
  args: string[];
  inferenceBytes: number;
  /** The socket the args have ffmpeg listen on for full-resolution frames (fullResolutionSocket()); removed by the session. */
  fullSocket?: string;
  pools: FramePools;
  hooks: SessionHooks;
  log: Logger;
  timers: Timers;
  /** How long ffmpeg gets to exit after SIGTERM before SIGKILL. */
  killGraceMs: number;
}

const STDERR_LINES = 10;
/** Bound on frames read from one output while the other lags behind; beyond it the pipes are out of step. */
const MAX_UNPAIRED = 32;
/** Between attempts to connect to the full-resolution socket (ffmpeg listens once its input is open). */
const CONNECT_RETRY_MS = 25;
/** What one read of the full-resolution socket can take. */
const FULL_READ_BYTES = 1 << 20;

export interface FfmpegSession extends SourceSession {
  readonly pid: number | undefined;
}

export function startFfmpegSession(deps: FfmpegSessionDeps): FfmpegSession {
  const { pools, hooks, log, timers, fullSocket } = deps;
  const fullResolution = fullSocket !== undefined;
  const child = spawn(deps.ffmpegPath, deps.args, { stdio: ['ignore', 'pipe', 'pipe'] });

  let closed = false;
  let stopping = false;
  let abortReason: string | undefined;
  let abortTail = '';
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (resolveClosed = resolve));

  // Last lines of ffmpeg's stderr: the best explanation of a failure.
  const stderrTail: string[] = [];
  let stderrPartial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    const lines = (stderrPartial + text).split(/\r?\n|\r/);
    stderrPartial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = redactText(raw.trim()).slice(0, 500);
      if (!line) continue;
      log.debug({ line }, 'ffmpeg');
      stderrTail.push(line);
      if (stderrTail.length > STDERR_LINES) stderrTail.shift();
    }
  });

  const inferenceQueue: (Buffer | undefined)[] = [];
  const fullQueue: PpmFrame[] = [];

  const pair = (): void => {
    while (inferenceQueue.length > 0 && (!fullResolution || fullQueue.length > 0)) {
      const inference = inferenceQueue.shift();
      const full = fullResolution ? fullQueue.shift() : undefined;
      if (stopping || closed || !inference || (full && !full.data)) {
        if (inference) pools.inference.release(inference);
        if (full?.data) pools.releaseFull(full.data);
        if (!stopping && !closed) hooks.dropped();
        continue;
      }
      hooks.frame({ inference, ...(full?.data ? { full: { width: full.width, height: full.height, data: full.data } } : {}) });
    }
    if (inferenceQueue.length > MAX_UNPAIRED || fullQueue.length > MAX_UNPAIRED) abort('ffmpeg outputs out of step');
  };

  const rawReader = new RawFrameReader(
    deps.inferenceBytes,
    () => pools.inference.acquire(),
    (data) => {
      inferenceQueue.push(data);
      pair();
    },
  );
  child.stdout!.on('data', (chunk: Buffer) => rawReader.push(chunk));

  let ppmReader: PpmFrameReader | undefined;
  /** Resolves once the full-resolution socket has closed (at once when there is none or it never connected). */
  let fullEnded: Promise<void> = Promise.resolve();
  /** Stops trying to connect when ffmpeg exited before it listened (or before it was reached). */
  let stopConnecting = (): void => undefined;
  if (fullSocket !== undefined) {
    const reader = new PpmFrameReader(
      (width, height) => pools.full(width, height).acquire(),
      (frame) => {
        fullQueue.push(frame);
        pair();
      },
      (message) => abort(message),
    );
    ppmReader = reader;
    const scratch = Buffer.allocUnsafe(FULL_READ_BYTES);
    let endFull!: () => void;
    fullEnded = new Promise<void>((resolve) => (endFull = resolve));
    let connected = false;
    let gaveUp = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    stopConnecting = () => {
      if (connected || gaveUp) return;
      gaveUp = true;
      clearTimeout(retry);
      removeSocket(fullSocket);
      endFull();
    };
    const connect = (): void => {
      retry = undefined;
      if (gaveUp) return;
      const socket = net.connect({
        path: fullSocket,
        onread: {
          buffer: scratch,
          callback: (n: number) => {
            reader.push(scratch.subarray(0, n));
            return true;
          },
        },
      });
      socket.once('connect', () => {
        if (gaveUp) return void socket.destroy();
        connected = true;
        removeSocket(fullSocket);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (connected) return abort(`full-resolution output: ${err.message}`);
        // Not listening yet (the input is still being opened): try again shortly.
        if (gaveUp) return;
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') retry = setTimeout(connect, CONNECT_RETRY_MS); // plumbing, not the watchdog's timers
        else abort(`full-resolution output: ${err.message}`);
      });
      socket.once('close', () => {
        if (connected) endFull();
      });
    };
    connect();
  }

  const finish = (outcome: { code: number | null; signal: NodeJS.Signals | null } | { spawnError: Error }): void => {
    if (closed) return;
    closed = true;
    stopConnecting();
    // Buffers still queued or half filled go back to their pools.
    for (const buf of inferenceQueue.splice(0)) if (buf) pools.inference.release(buf);
    for (const f of fullQueue.splice(0)) if (f.data) pools.releaseFull(f.data);
    const partial = rawReader.takePartial();
    if (partial) pools.inference.release(partial);
    const partialFull = ppmReader?.takePartial();
    if (partialFull) pools.releaseFull(partialFull);
    resolveClosed();
    if (stopping) return;
    const tail = stderrTail.slice(-3).join(' | ');
    if ('spawnError' in outcome) {
      hooks.end({ ok: false, error: `cannot start ${deps.ffmpegPath}: ${outcome.spawnError.message}` });
    } else if (abortReason) {
      hooks.end({ ok: false, error: abortTail ? `${abortReason} (ffmpeg: ${abortTail})` : abortReason });
    } else if (outcome.code === 0) {
      hooks.end({ ok: true });
    } else {
      const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
      hooks.end({ ok: false, error: `ffmpeg ${how}${tail ? `: ${tail}` : ''}` });
    }
  };

  // 'close' comes after the process exited and its pipes are drained; the socket's last frames are read before finishing too.
  child.once('close', (code, signal) => {
    stopConnecting();
    void fullEnded.then(() => finish({ code, signal }));
  });
  child.once('error', (err) => {
    if (child.pid === undefined) finish({ spawnError: err });
    else log.warn({ err }, 'ffmpeg process error');
  });

  const terminate = async (): Promise<void> => {
    if (closed) return closedPromise;
    child.kill('SIGTERM');
    // ffmpeg normally exits promptly on SIGTERM; a hung one (stuck on a network read) gets SIGKILL.
    const killTimer = timers.setTimeout(() => {
      if (!closed) child.kill('SIGKILL');
    }, deps.killGraceMs);
    await closedPromise;
    timers.clearTimeout(killTimer);
  };

  function abort(reason: string): void {
    if (closed || abortReason !== undefined) return;
    abortReason = reason;
    // What ffmpeg said before it was told to stop; what it says while stopping is noise.
    abortTail = stderrTail.slice(-3).join(' | ');
    void terminate();
  }

  return {
    pid: child.pid,
    abort,
    async stop(): Promise<void> {
      stopping = true;
      await terminate();
    },
  };
}
