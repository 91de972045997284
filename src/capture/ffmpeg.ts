// ffmpeg-backed sources (RTSP, V4L2, video files): one child process per attempt, raw rgb24
// frames at inference size and, optionally, full-resolution PPM frames, each on a Unix socket
// ffmpeg listens on. The frame reader thread reads them (frame-worker.ts): ffmpeg stops reading
// its camera while an output waits to be read, so they are read off the line's busy thread.
import { spawn } from 'node:child_process';
import type { Logger } from '../common/log.js';
import { openFrameStream, type FrameSockets } from './frame-worker-client.js';
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
  /** Where ffmpeg listens for its outputs (frameSockets()); `full` is needed with fullResolution. */
  sockets: Pick<FrameSockets, 'inference' | 'full'>;
  /** How long ffmpeg waits for its outputs to be connected before it gives up (ms; default 10 s). */
  acceptTimeoutMs?: number;
}

/**
 * ffmpeg waits this long for the frame reader thread to connect to each output, then exits: an
 * ffmpeg whose parent died before connecting would otherwise hold the camera's stream forever.
 * Once connected, the parent's death closes the sockets and ffmpeg's next write ends it.
 */
export const ACCEPT_TIMEOUT_MS = 10_000;

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
  const listen = ['-timeout', String(o.acceptTimeoutMs ?? ACCEPT_TIMEOUT_MS), '-listen', '1'];
  const rawOut = ['-an', '-sn', '-dn', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', ...listen, `unix:${o.sockets.inference}`];
  if (!o.fullResolution) {
    args.push('-map', '0:v:0', '-vf', `${fps},${toInference}`, ...rawOut);
    return args;
  }
  if (o.sockets.full === undefined) throw new Error('buildFfmpegArgs: fullResolution needs sockets.full');
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
    ...listen,
    `unix:${o.sockets.full}`,
  );
  return args;
}

export interface FfmpegSessionDeps {
  ffmpegPath: string;
  args: string[];
  inferenceBytes: number;
  /** The sockets the args have ffmpeg listen on (frameSockets()); removed once connected or when the session ends. */
  sockets: FrameSockets;
  /** Frames per output the line may hold at once (the camera's pool size). */
  capacity: number;
  hooks: SessionHooks;
  log: Logger;
  timers: Timers;
  /** How long ffmpeg gets to exit after SIGTERM before SIGKILL. */
  killGraceMs: number;
}

const STDERR_LINES = 10;

export interface FfmpegSession extends SourceSession {
  readonly pid: number | undefined;
}

export function startFfmpegSession(deps: FfmpegSessionDeps): FfmpegSession {
  const { hooks, log, timers } = deps;
  const child = spawn(deps.ffmpegPath, deps.args, { stdio: ['ignore', 'ignore', 'pipe'] });

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

  // The frames themselves are read on the frame reader thread (frame-worker.ts).
  const frames = openFrameStream(deps.sockets, { inferenceBytes: deps.inferenceBytes, capacity: deps.capacity }, {
    frame: (parts) => {
      if (stopping || closed) return void parts.release?.();
      hooks.frame(parts);
    },
    dropped: (readAt) => {
      if (!stopping && !closed) hooks.dropped(readAt);
    },
    failed: (message) => abort(message),
  });

  const finish = (outcome: { code: number | null; signal: NodeJS.Signals | null } | { spawnError: Error }): void => {
    if (closed) return;
    closed = true;
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

  // 'close' comes after the process exited and its stderr is drained.
  /** ffmpeg is gone: what it wrote is read first (the frame reader thread drains its sockets), then the session ends. */
  const finishAfterFrames = (outcome: Parameters<typeof finish>[0]): void => {
    frames.close();
    void frames.ended.then(() => finish(outcome));
  };
  child.once('close', (code, signal) => finishAfterFrames({ code, signal }));
  child.once('error', (err) => {
    if (child.pid === undefined) finishAfterFrames({ spawnError: err });
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
