// A camera: source sessions driven by a watchdog (restart on exit or stall, exponential
// backoff with jitter, online/reconnecting/offline), feeding a one-frame slot.
import type { CameraConfig } from '../config/schema.js';
import { ConfigError, OversizedImageError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { CameraState, CameraStatus, Frame } from '../common/types.js';
import { backoffDelay } from '../common/backoff.js';
import type { Resize } from '../common/geometry.js';
import { buildFfmpegArgs, startFfmpegSession } from './ffmpeg.js';
import { frameSockets } from './frame-worker-client.js';
import { startFolderSession, startHttpSession } from './images.js';
import { FramePools } from './pool.js';
import type { FrameParts, SessionHooks, SessionOutcome, SourceSession, Timers } from './session.js';
import { realTimers, releaseParts } from './session.js';
import { FrameSlot } from './slot.js';
import { normalizeRoi, resolveInput, resolveSourceKind, type SourceKind } from './source.js';
import { redactText } from '../common/redact.js';
import { splitCredentials, withCredentials, type Credentials } from './http-auth.js';

export interface CameraDeps {
  /** From src/config/schema.ts, defaults already applied. */
  config: CameraConfig;
  /** Size frames are delivered at: the model's frame size (what the model asks for, src/common/geometry.ts). */
  inferenceSize: { width: number; height: number };
  /** How the ROI is brought to inferenceSize (the model's geometry); default stretch. */
  resize?: Resize;
  /** Gray level of the pad bands when resize is pad (the model's geometry.padValue); default 0. */
  padValue?: number;
  /** Relative file and folder sources resolve against this. */
  baseDir: string;
  log: Logger;
  /** Default 'ffmpeg' (from PATH). */
  ffmpegPath?: string;
  /** Jitter source for the backoff; default Math.random. */
  random?: () => number;
  /** Called on every state change. */
  onStatus?: (status: CameraStatus) => void;
  /** Clock for timestamps and the stall watchdog; default Date.now. Frames read on the frame reader thread carry the time they were read there (Date.now). */
  now?: () => number;
  /** Timers for backoff, stall checks and frame pacing; default the global ones. */
  timers?: Timers;
  /** fetch for HTTP snapshot sources; default the global fetch. */
  fetch?: typeof fetch;
  /** Buffers per pool (inference frames, full frames). Default 6: one being read, two waiting in the slot, one in inference, one being stored, one spare while the two ffmpeg outputs pair up. */
  poolSize?: number;
  /** Time ffmpeg gets after SIGTERM before SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
}

export interface Camera {
  readonly id: string;
  start(): void;
  /** Stops the source; resolves once its ffmpeg process (if any) has exited. */
  stop(): Promise<void>;
  status(): CameraStatus;
  /** Newest frame not yet taken; waits until one arrives; resolves undefined once stopped or when signal aborts. */
  next(signal?: AbortSignal): Promise<Frame | undefined>;
  /** The newest frame: one that arrived since `held` was taken replaces it (`held` is released and counted as dropped). */
  fresher(held: Frame): Frame;
  /** Releases a frame taken and not inspected (one from before a trigger), counted as dropped. */
  drop(frame: Frame): void;
  /** Releases a frame no one asked to inspect (a camera inspected only on trigger), counted as skipped. */
  skip(frame: Frame): void;
}

export function createCamera(deps: CameraDeps): Camera {
  const { config, inferenceSize } = deps;
  const id = config.id;
  const kind: SourceKind = config.kind === 'auto' ? resolveSourceKind(config.source, deps.baseDir) : config.kind;
  // Credentials from the URL's userinfo or from username/password (parseConfig refuses both at once):
  // HTTP answers them to the camera's challenge, ffmpeg takes them in the RTSP URL.
  const split = kind === 'http' || kind === 'rtsp' ? splitCredentials(config.source) : { url: config.source };
  const credentials: Credentials | undefined = config.username !== undefined ? { username: config.username, password: config.password ?? '' } : split.credentials;
  const input =
    kind === 'http' ? split.url : kind === 'rtsp' && config.username !== undefined ? withCredentials(config.source, credentials) : resolveInput(kind, config.source, deps.baseDir);
  const roi = normalizeRoi(config.roi);
  if (roi && (roi.width <= 0 || roi.height <= 0)) {
    throw new ConfigError([`cameras[${id}].roi: the region lies outside the frame (x + width and y + height must stay within 0..1)`]);
  }
  const log = deps.log.child({ module: 'capture', cameraId: id });
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const killGraceMs = deps.killGraceMs ?? 2000;
  const stallMs = config.watchdog.stallSeconds * 1000;
  // Files and folders that do not loop simply end; everything else is expected to run forever.
  const finite = (kind === 'file' || kind === 'folder') && !config.loop;

  const pools = new FramePools(inferenceSize.width * inferenceSize.height * 3, Math.max(2, deps.poolSize ?? 6));
  // Frames are taken in order while the line keeps up; one interval old, a waiting frame gives way to a newer one.
  const slot = new FrameSlot({ staleMs: 1000 / config.fps, now });
  const state: Omit<CameraStatus, 'framesDropped'> = {
    cameraId: id,
    state: 'stopped',
    framesIn: 0,
    framesLost: 0,
    framesCorrupt: 0,
    framesOversized: 0,
    framesSkipped: 0,
    reconnects: 0,
  };
  let poolDrops = 0;
  let seq = 0;
  let failures = 0;
  let started = false;
  let stopped = false;
  let stopPromise: Promise<void> | undefined;
  let session: SourceSession | undefined;
  /** Identifies the current attempt; callbacks from older attempts are ignored. */
  let generation = 0;
  let lastProgressAt = 0;
  let retryTimer: unknown;
  let stallTimer: unknown;
  let warnedPoolExhausted = false;
  // Frames lost before they were read (live streams only): frames due at the camera rate since
  // this connection's first frame, less those read; earlier connections' losses are kept.
  const live = kind === 'rtsp' || kind === 'v4l2';
  const lostSlack = Math.max(2, config.fps / 2);
  let sessionFirstAt: number | undefined;
  let sessionFrames = 0;
  let lostBefore = 0;
  let lostNow = 0;
  const countLost = (t: number): void => {
    sessionFrames += 1;
    sessionFirstAt ??= t;
    const due = Math.floor(((t - sessionFirstAt) / 1000) * config.fps) + 1;
    // Only ever up: frames that come late in a burst were not lost, so half a second of slack.
    lostNow = Math.max(lostNow, Math.floor(due - sessionFrames - lostSlack));
    state.framesLost = lostBefore + lostNow;
  };
  const newConnection = (): void => {
    lostBefore += lostNow;
    lostNow = 0;
    sessionFirstAt = undefined;
    sessionFrames = 0;
  };

  const status = (): CameraStatus => ({ ...state, framesDropped: slot.dropped + poolDrops });

  const setState = (next: CameraState): void => {
    if (state.state === next) return;
    state.state = next;
    if (!deps.onStatus) return;
    try {
      deps.onStatus(status());
    } catch (err) {
      log.warn({ err }, 'camera status listener failed');
    }
  };

  /** A frame was read from the source: the source is alive, and the backoff starts over. */
  const progress = (at?: number): number => {
    const t = at ?? now();
    seq += 1;
    state.framesIn += 1;
    state.lastFrameAt = t;
    lastProgressAt = t;
    if (live) countLost(t);
    failures = 0;
    if (state.state !== 'online') {
      log.info({ seq }, 'camera online');
      setState('online');
    }
    return t;
  };

  const deliver = (gen: number, parts: FrameParts): void => {
    if (gen !== generation || stopped) {
      releaseParts(pools, parts);
      return;
    }
    const capturedAt = progress(parts.readAt);
    let released = false;
    const frame: Frame = {
      cameraId: id,
      seq,
      capturedAt,
      width: inferenceSize.width,
      height: inferenceSize.height,
      pixelFormat: 'rgb24',
      data: parts.inference,
      release: () => {
        if (released) return;
        released = true;
        releaseParts(pools, parts);
      },
    };
    if (parts.full) frame.full = { width: parts.full.width, height: parts.full.height, pixelFormat: 'rgb24', data: parts.full.data };
    if (parts.sourceFile) frame.sourceFile = parts.sourceFile;
    slot.put(frame);
  };

  const dropped = (gen: number, readAt?: number): void => {
    if (gen !== generation || stopped) return;
    progress(readAt);
    poolDrops += 1;
    if (!warnedPoolExhausted) {
      warnedPoolExhausted = true;
      log.warn({ poolSize: pools.inference.capacity }, 'all frame buffers are held by consumers; frames are dropped (is release() called?)');
    }
  };

  const openSession = (hooks: SessionHooks): SourceSession => {
    const resize = deps.resize ?? 'stretch';
    const padValue = deps.padValue;
    const decode = { pools, inferenceSize, resize, ...(padValue !== undefined ? { padValue } : {}), fullResolution: config.fullResolution, limits: config.imageLimits, ...(roi ? { roi } : {}) };
    if (kind === 'folder') return startFolderSession({ ...decode, dir: input, loop: config.loop, fps: config.fps, hooks, timers, now });
    if (kind === 'http') {
      return startHttpSession({ ...decode, url: input, ...(credentials ? { credentials } : {}), fps: config.fps, hooks, timers, now, fetch: deps.fetch ?? globalThis.fetch, timeoutMs: stallMs });
    }
    const sockets = frameSockets(config.fullResolution);
    const args = buildFfmpegArgs({ kind, input, fps: config.fps, loop: config.loop, rtspTransport: config.rtspTransport, inferenceSize, resize, ...(padValue !== undefined ? { padValue } : {}), fullResolution: config.fullResolution, sockets, ...(roi ? { roi } : {}) });
    const ffmpegPath = deps.ffmpegPath ?? 'ffmpeg';
    const s = startFfmpegSession({ ffmpegPath, args, inferenceBytes: pools.inference.bytes, sockets, capacity: pools.inference.capacity, hooks, log, timers, killGraceMs });
    log.debug({ pid: s.pid, args: args.map(redactText) }, 'ffmpeg started');
    return s;
  };

  const clearStall = (): void => {
    if (stallTimer !== undefined) timers.clearTimeout(stallTimer);
    stallTimer = undefined;
  };

  const checkStall = (): void => {
    stallTimer = undefined;
    if (!session || stopped) return;
    const idle = now() - lastProgressAt;
    if (idle >= stallMs) {
      session.abort(`no frame for ${config.watchdog.stallSeconds}s`);
      return;
    }
    stallTimer = timers.setTimeout(checkStall, stallMs - idle);
  };

  const ended = (gen: number, outcome: SessionOutcome): void => {
    if (gen !== generation || stopped) return;
    session = undefined;
    clearStall();
    if (outcome.ok && finite) {
      log.info('source ended');
      stopped = true;
      setState('stopped');
      // The last frame stays takeable; after it, next() resolves undefined.
      slot.end();
      return;
    }
    // ffmpeg's stderr and fetch errors echo the URL: mask it before it is shown or logged.
    const error = outcome.ok ? 'source ended' : redactText(outcome.error);
    failures += 1;
    state.reconnects += 1;
    state.lastError = error;
    const delayMs = backoffDelay(failures, { initialMs: config.watchdog.backoffInitialMs, maxMs: config.watchdog.backoffMaxMs }, random);
    log.warn({ error, failures, delayMs }, 'camera source failed; reconnecting');
    setState(failures >= config.watchdog.offlineAfterFailures ? 'offline' : 'reconnecting');
    retryTimer = timers.setTimeout(launch, delayMs);
  };

  function launch(): void {
    retryTimer = undefined;
    if (stopped) return;
    generation += 1;
    const gen = generation;
    lastProgressAt = now();
    newConnection();
    warnedPoolExhausted = false;
    const hooks: SessionHooks = {
      frame: (parts) => deliver(gen, parts),
      dropped: (readAt) => dropped(gen, readAt),
      corrupt: (what, err) => {
        if (gen !== generation || stopped) return;
        if (err instanceof OversizedImageError) {
          state.framesOversized = (state.framesOversized ?? 0) + 1;
          log.warn({ file: redactText(what), error: redactText(errorMessage(err)), framesOversized: state.framesOversized }, 'image over cameras[].imageLimits; skipped');
          return;
        }
        state.framesCorrupt += 1;
        log.warn({ file: redactText(what), error: redactText(errorMessage(err)) }, 'image could not be decoded; skipped');
      },
      end: (outcome) => ended(gen, outcome),
    };
    try {
      session = openSession(hooks);
    } catch (err) {
      // Synchronous start failures (e.g. spawn arguments) go through the same retry path.
      ended(gen, { ok: false, error: errorMessage(err) });
      return;
    }
    clearStall();
    stallTimer = timers.setTimeout(checkStall, stallMs);
  }

  return {
    id,
    start(): void {
      if (started || stopped) return;
      started = true;
      log.info({ kind, source: redactText(config.source) }, 'camera starting');
      setState('starting');
      launch();
    },
    stop(): Promise<void> {
      stopPromise ??= (async () => {
        stopped = true;
        generation += 1;
        if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
        retryTimer = undefined;
        clearStall();
        const current = session;
        session = undefined;
        setState('stopped');
        slot.close();
        await current?.stop();
      })();
      return stopPromise;
    },
    status,
    next: (signal) => slot.take(signal),
    fresher: (held) => slot.fresher(held),
    drop: (frame) => slot.drop(frame),
    skip: (frame) => {
      frame.release();
      state.framesSkipped = (state.framesSkipped ?? 0) + 1;
    },
  };
}
