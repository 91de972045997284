// Sources decoded in-process with sharp: a folder of images replayed at `fps`, and an HTTP(S)
// snapshot URL polled at `fps`. The full image is the decoded picture; the inference image is
// its ROI crop resized to inference size.
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { CaptureError, CorruptFrameError, errorMessage } from '../common/errors.js';
import type { FramePools } from './pool.js';
import type { FrameParts, SessionHooks, SessionOutcome, SourceSession, Timers } from './session.js';
import { releaseParts } from './session.js';
import { redactUrl, roiPixels, type Roi } from './source.js';
import { toFrameOps, type Resize } from '../common/geometry.js';

export interface DecodeOptions {
  pools: FramePools;
  /** The model's frame size (src/common/geometry.ts). */
  inferenceSize: { width: number; height: number };
  /** How the ROI is brought to inferenceSize; default stretch. */
  resize?: Resize;
  roi?: Roi;
  fullResolution: boolean;
}

/**
 * Decodes an encoded image into pooled rgb24 buffers. Throws CorruptFrameError when the image
 * cannot be decoded; resolves undefined when no pool buffer is free.
 */
export async function decodeImage(input: string | Buffer, o: DecodeOptions): Promise<FrameParts | undefined> {
  let decoded: { data: Buffer; info: OutputInfo };
  let small: Buffer;
  try {
    // failOn 'warning' makes truncated files an error instead of a half-grey picture.
    decoded = await sharp(input, { failOn: 'warning' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = decoded.info;
    if (channels !== 3) throw new Error(`decoded to ${channels} channels`);
    let pipeline = sharp(decoded.data, { raw: { width, height, channels: 3 } });
    const region = o.roi ? roiPixels(o.roi, width, height) : { left: 0, top: 0, width, height };
    if (o.roi) pipeline = pipeline.extract(region);
    small = await toFrameOps(pipeline, region, o.resize ?? 'stretch', o.inferenceSize).raw().toBuffer();
  } catch (err) {
    throw new CorruptFrameError(errorMessage(err), { cause: err });
  }
  const inference = o.pools.inference.acquire();
  if (!inference) return undefined;
  small.copy(inference);
  if (!o.fullResolution) return { inference };
  const { width, height } = decoded.info;
  const full = o.pools.full(width, height).acquire();
  if (!full) {
    o.pools.inference.release(inference);
    return undefined;
  }
  decoded.data.copy(full);
  return { inference, full: { width, height, data: full } };
}

/** Waits for the next tick of a fixed-rate schedule; stop() wakes it with false. */
class Pacer {
  private next: number | undefined;
  private timer: unknown;
  private wake: ((go: boolean) => void) | undefined;
  private stopped = false;

  constructor(
    private readonly periodMs: number,
    private readonly timers: Timers,
    private readonly now: () => number,
  ) {}

  wait(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    const now = this.now();
    // Start immediately; after a slow tick, re-anchor instead of bursting to catch up.
    if (this.next === undefined || this.next < now - this.periodMs) this.next = now;
    // Late by less than a period: go at once (a negative delay is an error to setTimeout).
    const delay = Math.max(0, this.next - now);
    this.next += this.periodMs;
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.timers.setTimeout(() => {
        this.wake = undefined;
        resolve(!this.stopped);
      }, delay);
    });
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    this.wake?.(false);
    this.wake = undefined;
  }
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif']);

async function listImages(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    // Links too: a commissioning folder often links to images kept elsewhere (a broken link is skipped like a removed file).
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort()
    .map((name) => path.join(dir, name));
}

export interface ImageSessionDeps extends DecodeOptions {
  fps: number;
  hooks: SessionHooks;
  timers: Timers;
  now: () => number;
}

/** Runs `body` until it returns an outcome or the session is stopped/aborted; reports the end once. */
function runSession(
  deps: ImageSessionDeps,
  body: (ctx: { pacer: Pacer; signal: AbortSignal; isStopped: () => boolean }) => Promise<SessionOutcome | undefined>,
): SourceSession {
  const pacer = new Pacer(1000 / deps.fps, deps.timers, deps.now);
  const controller = new AbortController();
  let stopCalled = false;
  let abortReason: string | undefined;
  const isStopped = (): boolean => stopCalled || abortReason !== undefined;
  const done = body({ pacer, signal: controller.signal, isStopped })
    .catch((err: unknown): SessionOutcome => ({ ok: false, error: errorMessage(err) }))
    .then((outcome) => {
      if (stopCalled) return;
      deps.hooks.end(abortReason !== undefined ? { ok: false, error: abortReason } : (outcome ?? { ok: false, error: 'source stopped' }));
    });
  const halt = (): void => {
    pacer.stop();
    controller.abort();
  };
  return {
    abort(reason) {
      if (isStopped()) return;
      abortReason = reason;
      halt();
    },
    async stop() {
      stopCalled = true;
      halt();
      await done;
    },
  };
}

function deliver(deps: ImageSessionDeps, parts: FrameParts | undefined, isStopped: () => boolean): void {
  if (parts && isStopped()) releaseParts(deps.pools, parts);
  else if (parts) deps.hooks.frame(parts);
  else if (!isStopped()) deps.hooks.dropped();
}

export interface FolderSessionDeps extends ImageSessionDeps {
  dir: string;
  loop: boolean;
}

/** Replays the images of a folder (sorted by name) at `fps`; re-lists it on every pass. */
export function startFolderSession(deps: FolderSessionDeps): SourceSession {
  return runSession(deps, async ({ pacer, isStopped }) => {
    let files: string[] = [];
    let index = 0;
    let passes = 0;
    while (await pacer.wait()) {
      let tried = 0;
      for (;;) {
        if (index >= files.length) {
          if (passes > 0 && !deps.loop) return { ok: true };
          files = await listImages(deps.dir);
          index = 0;
          passes += 1;
          if (files.length === 0) return { ok: false, error: `no images in folder ${deps.dir}` };
        }
        if (tried >= files.length) return { ok: false, error: `none of the ${files.length} images in ${deps.dir} could be decoded` };
        const file = files[index++]!;
        tried += 1;
        try {
          const parts = await decodeImage(file, deps);
          deliver(deps, parts && { ...parts, sourceFile: file }, isStopped);
          break;
        } catch (err) {
          if (isStopped()) return undefined;
          // A file removed between listing and reading is not a corrupt image.
          if (!(await access(file).then(() => true, () => false))) continue;
          deps.hooks.corrupt(file, err);
        }
      }
    }
    return undefined;
  });
}

export interface HttpSessionDeps extends ImageSessionDeps {
  url: string;
  fetch: typeof fetch;
  timeoutMs: number;
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${errorMessage(err)}: ${cause.message}` : errorMessage(err);
}

/** Polls a snapshot URL at `fps`; a failed request ends the attempt (the watchdog reconnects). */
export function startHttpSession(deps: HttpSessionDeps): SourceSession {
  const shownUrl = redactUrl(deps.url);
  return runSession(deps, async ({ pacer, signal, isStopped }) => {
    while (await pacer.wait()) {
      let body: Buffer;
      try {
        const res = await deps.fetch(deps.url, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(deps.timeoutMs)]),
          headers: { accept: 'image/*' },
        });
        if (!res.ok) {
          await res.body?.cancel();
          throw new CaptureError(`HTTP ${res.status} ${res.statusText}`.trim());
        }
        body = Buffer.from(await res.arrayBuffer());
      } catch (err) {
        if (isStopped()) return undefined;
        return { ok: false, error: `snapshot ${shownUrl}: ${describeFetchError(err)}` };
      }
      try {
        deliver(deps, await decodeImage(body, deps), isStopped);
      } catch (err) {
        if (isStopped()) return undefined;
        deps.hooks.corrupt(shownUrl, err);
      }
    }
    return undefined;
  });
}
