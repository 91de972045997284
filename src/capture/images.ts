// Sources decoded in-process with sharp: a folder of images replayed at `fps`, and an HTTP(S)
// snapshot URL polled at `fps`. The full image is the decoded picture; the inference image is
// its ROI crop resized to inference size.
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { CaptureError, CorruptFrameError, OversizedImageError, errorMessage } from '../common/errors.js';
import { Value } from '@sinclair/typebox/value';
import { ImageLimits, type ImageLimitsConfig } from '../config/schema.js';
import type { FramePools } from './pool.js';
import type { FrameParts, SessionHooks, SessionOutcome, SourceSession, Timers } from './session.js';
import { releaseParts } from './session.js';
import { roiPixels, type Roi } from './source.js';
import { redactText } from '../common/redact.js';
import { SnapshotAuth, type Credentials } from './http-auth.js';
import { toFrameOps, type Resize } from '../common/geometry.js';

export interface DecodeOptions {
  pools: FramePools;
  /** The model's frame size (src/common/geometry.ts). */
  inferenceSize: { width: number; height: number };
  /** How the ROI is brought to inferenceSize; default stretch. */
  resize?: Resize;
  /** Gray level of the pad bands when resize is pad (the model's geometry.padValue); default 0. */
  padValue?: number;
  roi?: Roi;
  fullResolution: boolean;
  /** Pixel and byte limits (cameras[].imageLimits); the schema's defaults when absent. */
  limits?: ImageLimitsConfig;
}

/** The schema's defaults (for callers that decode without a camera config). */
export const DEFAULT_IMAGE_LIMITS = Value.Default(ImageLimits, {}) as ImageLimitsConfig;

const MB = 1024 * 1024;

/** Throws OversizedImageError when an encoded image of `bytes` is over the byte limit. */
export function checkImageBytes(bytes: number, limits: ImageLimitsConfig = DEFAULT_IMAGE_LIMITS): void {
  if (bytes > limits.maxMegabytes * MB) throw new OversizedImageError(`${(bytes / MB).toFixed(1)} MB is over imageLimits.maxMegabytes (${limits.maxMegabytes})`);
}

/** The size a full-resolution copy is kept at: the image's own, or scaled down to fit maxPixels. */
export function boundedSize(width: number, height: number, maxPixels: number): { width: number; height: number } {
  if (width * height <= maxPixels) return { width, height };
  const scale = Math.sqrt(maxPixels / (width * height));
  return { width: Math.max(1, Math.floor(width * scale)), height: Math.max(1, Math.floor(height * scale)) };
}

/**
 * Decodes an encoded image into pooled rgb24 buffers. Throws OversizedImageError when it is
 * over the limits (from its header, before decoding) and CorruptFrameError when it cannot be
 * decoded; resolves undefined when no pool buffer is free.
 */
export async function decodeImage(input: string | Buffer, o: DecodeOptions): Promise<FrameParts | undefined> {
  const limits = o.limits ?? DEFAULT_IMAGE_LIMITS;
  let decoded: { data: Buffer; info: OutputInfo };
  let small: Buffer;
  try {
    // The header says the size: an image over the pixel limit is refused before a byte of it is decoded.
    const meta = await sharp(input).metadata();
    if (meta.width !== undefined && meta.height !== undefined && meta.width * meta.height > limits.maxPixels) {
      throw new OversizedImageError(`${meta.width}×${meta.height} (${((meta.width * meta.height) / 1e6).toFixed(1)} MP) is over imageLimits.maxPixels (${limits.maxPixels})`);
    }
    // failOn 'warning' makes truncated files an error instead of a half-grey picture; limitInputPixels
    // holds the limit for formats whose header does not tell.
    decoded = await sharp(input, { failOn: 'warning', limitInputPixels: limits.maxPixels }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = decoded.info;
    if (channels !== 3) throw new Error(`decoded to ${channels} channels`);
    let pipeline = sharp(decoded.data, { raw: { width, height, channels: 3 } });
    const region = o.roi ? roiPixels(o.roi, width, height) : { left: 0, top: 0, width, height };
    if (o.roi) pipeline = pipeline.extract(region);
    small = await toFrameOps(pipeline, region, o.resize ?? 'stretch', o.inferenceSize, o.padValue).raw().toBuffer();
  } catch (err) {
    if (err instanceof OversizedImageError) throw err;
    if (/exceeds pixel limit/i.test(errorMessage(err))) throw new OversizedImageError(`over imageLimits.maxPixels (${limits.maxPixels}): ${errorMessage(err)}`);
    throw new CorruptFrameError(errorMessage(err), { cause: err });
  }
  const inference = o.pools.inference.acquire();
  if (!inference) return undefined;
  small.copy(inference);
  if (!o.fullResolution) return { inference };
  const { width, height } = boundedSize(decoded.info.width, decoded.info.height, limits.fullResolutionMaxPixels);
  const pixels =
    width === decoded.info.width && height === decoded.info.height
      ? decoded.data
      : await sharp(decoded.data, { raw: { width: decoded.info.width, height: decoded.info.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const full = o.pools.full(width, height).acquire();
  if (!full) {
    o.pools.inference.release(inference);
    return undefined;
  }
  pixels.copy(full);
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
          checkImageBytes((await stat(file)).size, deps.limits);
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
  /** Without userinfo (fetch refuses it): credentials come separately. */
  url: string;
  /** Answered to the camera's 401 challenge (Basic or Digest). */
  credentials?: Credentials;
  fetch: typeof fetch;
  timeoutMs: number;
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${errorMessage(err)}: ${cause.message}` : errorMessage(err);
}

/** The response body, refused as soon as it is known to be over imageLimits.maxMegabytes (by Content-Length, else while reading). */
async function readLimited(res: Response, limits: ImageLimitsConfig = DEFAULT_IMAGE_LIMITS): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  try {
    if (Number.isFinite(declared) && declared > 0) checkImageBytes(declared, limits);
  } catch (err) {
    await res.body?.cancel();
    throw err;
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    try {
      checkImageBytes(total, limits);
    } catch (err) {
      await reader.cancel();
      throw err;
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, total);
}

/** Polls a snapshot URL at `fps`; a failed request ends the attempt (the watchdog reconnects). */
export function startHttpSession(deps: HttpSessionDeps): SourceSession {
  const shownUrl = redactText(deps.url);
  const auth = deps.credentials && new SnapshotAuth(deps.credentials);
  return runSession(deps, async ({ pacer, signal, isStopped }) => {
    const get = (): Promise<Response> => {
      const authorization = auth?.header(deps.url);
      return deps.fetch(deps.url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(deps.timeoutMs)]),
        headers: { accept: 'image/*', ...(authorization ? { authorization } : {}) },
      });
    };
    while (await pacer.wait()) {
      let body: Buffer;
      try {
        let res = await get();
        // A 401 names the scheme (or a fresh nonce): answer it once; a second 401 means wrong credentials.
        if (res.status === 401 && auth) {
          await res.body?.cancel();
          auth.challenge(res.headers.get('www-authenticate'));
          res = await get();
        }
        if (!res.ok) {
          await res.body?.cancel();
          const refused = res.status === 401 && deps.credentials ? ` (credentials of user "${deps.credentials.username}" refused)` : '';
          throw new CaptureError(`HTTP ${res.status} ${res.statusText}`.trim() + refused);
        }
        body = await readLimited(res, deps.limits);
      } catch (err) {
        if (isStopped()) return undefined;
        // Too large is this image's fault, not the camera's: skipped and counted, the source stays up.
        if (err instanceof OversizedImageError) {
          deps.hooks.corrupt(shownUrl, err);
          continue;
        }
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
