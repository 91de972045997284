// Image files: JPEG encoding, where files live, and durable (atomic) writes.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { StoreError } from '../common/errors.js';
import type { RawImage } from '../common/types.js';

/** Folder under the data dir that holds every image; stored paths start with it. */
export const IMAGES_DIR = 'images';

/** Ids and camera ids become path segments: only these characters, so no "..", "/" or "." tricks. */
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isSafeSegment(value: string): boolean {
  return SAFE_SEGMENT.test(value);
}

/**
 * Encodes raw pixels as JPEG. `image.data` may be a view into a reused frame buffer:
 * do not release the frame until the promise settles.
 */
export async function encodeJpeg(image: RawImage, quality: number): Promise<Buffer> {
  const channels = image.pixelFormat === 'gray' ? 1 : 3;
  const expected = image.width * image.height * channels;
  if (image.data.length !== expected) {
    throw new StoreError(`raw ${image.pixelFormat} image ${image.width}x${image.height} needs ${expected} bytes, got ${image.data.length}`);
  }
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels } });
  // Keep gray frames single-channel: sharp would otherwise widen them to sRGB.
  if (channels === 1) pipeline = pipeline.toColourspace('b-w');
  // No Huffman-table optimisation (sharp's default does it): a 720p frame then takes 2.6 ms of
  // CPU against 5.6-6.2, for a file about 10% larger; under a flood of defects it is the encodes
  // that compete with the model for the cores.
  return pipeline.jpeg({ quality: Math.min(100, Math.max(1, Math.round(quality))), optimiseCoding: false }).toBuffer();
}

export function isJpeg(buffer: Buffer): boolean {
  return buffer.length >= 3 && buffer[0] === 0xff && buffer[1] === 0xd8 && buffer[2] === 0xff;
}

export type ImageKind = 'image' | 'overlay';

/** `images/<cameraId>/<yyyy-mm-dd>/<id>.jpg` (or `.overlay.jpg`), always with "/"; the day is UTC. */
export function imageRelPath(cameraId: string, capturedAt: number, id: string, kind: ImageKind): string {
  const day = new Date(capturedAt).toISOString().slice(0, 10);
  return [IMAGES_DIR, cameraId, day, `${id}${kind === 'overlay' ? '.overlay.jpg' : '.jpg'}`].join('/');
}

/** For a file name written by this module, the inspection id and kind; undefined for anything else. */
export function parseImageFileName(name: string): { id: string; kind: ImageKind } | undefined {
  const kind: ImageKind = name.endsWith('.overlay.jpg') ? 'overlay' : 'image';
  const id = name.slice(0, name.length - (kind === 'overlay' ? '.overlay.jpg' : '.jpg').length);
  if (!name.endsWith('.jpg') || !isSafeSegment(id)) return undefined;
  return { id, kind };
}

/** The temporary name a file is written under before it is renamed into place. */
export function tmpPathFor(file: string): string {
  return `${file}.tmp`;
}

export const TMP_SUFFIX = '.tmp';

/** fsync a directory so a rename or a new entry in it survives power loss. */
function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes `dir` (and any missing folder up to `root`, the highest this may create) exist
 * durably: new folders are entries in their parents, so each parent is synced (only when a
 * folder is new: a camera's first image of a day). For save(); saveAsync's writes use
 * durableDirAsync.
 */
function durableDir(root: string, dir: string): void {
  const firstCreated = fs.mkdirSync(dir, { recursive: true });
  if (firstCreated === undefined) return;
  for (let d = dir; d.length >= firstCreated.length && d !== root; d = path.dirname(d)) fsyncDir(path.dirname(d));
}

/**
 * Writes `data` to `file` so that after a crash or power loss the file is either absent or
 * complete: write a temporary file, fsync it, rename it over the final name, fsync the folder.
 * `root` is the highest folder this may create; new folders below it are made durable too.
 */
export function writeFileAtomic(root: string, file: string, data: Buffer): void {
  const dir = path.dirname(file);
  durableDir(root, dir);
  const tmp = tmpPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    let offset = 0;
    while (offset < data.length) offset += fs.writeSync(fd, data, offset, data.length - offset);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    removeQuietly(tmp);
    throw err;
  }
  fsyncDir(dir);
}

/** Folders durableDirAsync found or made durable (a few per camera and day; forgotten past the bound, then checked again). */
const durableDirs = new Set<string>();
const DURABLE_DIRS_KEPT = 1000;
/** New folders are made one at a time: a writer never sees a folder whose parent's entry is still being synced. */
let dirsMade: Promise<unknown> = Promise.resolve();

/**
 * durableDir on libuv's threads: a folder fsync waits for the file system's journal commit,
 * which on a busy disk takes up to seconds, and must not hold up the main thread (camera
 * pipes, the model, SQLite). Writers into a folder being made wait until it is durable.
 */
function durableDirAsync(root: string, dir: string): Promise<void> {
  if (durableDirs.has(dir)) return Promise.resolve();
  const made = dirsMade.then(async () => {
    if (durableDirs.has(dir)) return;
    const firstCreated = await fsp.mkdir(dir, { recursive: true });
    if (firstCreated !== undefined) {
      for (let d = dir; d.length >= firstCreated.length && d !== root; d = path.dirname(d)) await fsyncDirAsync(path.dirname(d));
    }
    if (durableDirs.size >= DURABLE_DIRS_KEPT) durableDirs.clear();
    durableDirs.add(dir);
  });
  dirsMade = made.catch(() => undefined);
  return made;
}

async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * writeFileAtomic with the folders, the write, the fsyncs and the rename on libuv's threads:
 * the same guarantee (absent or complete after a crash, durable once the promise resolves)
 * without the main thread waiting on the disk.
 */
export async function writeFileAtomicAsync(root: string, file: string, data: Buffer): Promise<void> {
  const dir = path.dirname(file);
  await durableDirAsync(root, dir);
  const tmp = tmpPathFor(file);
  let handle: fsp.FileHandle | undefined;
  try {
    try {
      handle = await fsp.open(tmp, 'w');
    } catch (err) {
      // Retention removes empty folders: one may have gone since it was made.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      durableDirs.delete(dir);
      await durableDirAsync(root, dir);
      handle = await fsp.open(tmp, 'w');
    }
    await handle.writeFile(data);
    await handle.datasync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    removeQuietly(tmp);
    throw err;
  }
  await syncDirCovering(dir);
}

/** Per folder: fsyncs asked for (each after its rename) and whether one runs. */
interface DirSyncs {
  asked: number;
  running: boolean;
  waiting: Array<{ ask: number; resolve: () => void; reject: (err: unknown) => void }>;
}
const dirSyncs = new Map<string, DirSyncs>();

/**
 * Resolves after an fsync of `dir` that started after this call: concurrent writers into one
 * folder share one fsync (each waits at most for the one running and the next), which halves
 * the fsyncs a busy line queues on libuv's threads.
 */
function syncDirCovering(dir: string): Promise<void> {
  let s = dirSyncs.get(dir);
  if (!s) dirSyncs.set(dir, (s = { asked: 0, running: false, waiting: [] }));
  const state = s;
  const ask = ++state.asked;
  const done = new Promise<void>((resolve, reject) => state.waiting.push({ ask, resolve, reject }));
  const run = async (): Promise<void> => {
    state.running = true;
    const upTo = state.asked;
    let failure: { err: unknown } | undefined;
    try {
      await fsyncDirAsync(dir);
    } catch (err) {
      failure = { err };
    }
    const covered = state.waiting.filter((w) => w.ask <= upTo);
    state.waiting = state.waiting.filter((w) => w.ask > upTo);
    for (const w of covered) failure ? w.reject(failure.err) : w.resolve();
    if (state.waiting.length > 0) void run();
    else {
      state.running = false;
      dirSyncs.delete(dir);
    }
  };
  if (!state.running) void run();
  return done;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already failing; the original error is the one to report
  }
}

/** Deletes a file; returns its size, or undefined if it was not there (or could not be removed). */
export function removeQuietly(file: string): number | undefined {
  try {
    const size = fs.statSync(file).size;
    fs.unlinkSync(file);
    return size;
  } catch {
    return undefined;
  }
}
