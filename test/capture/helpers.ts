// Shared helpers for the capture tests: fixture videos made with ffmpeg, camera configs, frames and processes.
import { execFile } from 'node:child_process';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig, type CameraConfig } from '../../src/config/index.js';
import type { Camera } from '../../src/capture/index.js';
import type { Frame } from '../../src/common/types.js';

const run = promisify(execFile);

import { fixtureImages } from '../helpers/media.js';

export async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

/** An H.264 clip at 10 fps, one fixture image per frame (12 frames, 300x300), keyframe every 5 frames. */
export async function makeClip(dir: string, name = 'clip.mp4'): Promise<string> {
  const frames = path.join(dir, 'clip-frames');
  await run('mkdir', ['-p', frames]);
  const pngs = await fixtureImages();
  await Promise.all(pngs.map((p, i) => copyFile(p, path.join(frames, `f${String(i).padStart(3, '0')}.png`))));
  const out = path.join(dir, name);
  await ffmpeg(['-framerate', '10', '-i', path.join(frames, 'f%03d.png'), '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '12', '-pix_fmt', 'yuv420p', '-g', '5', out]);
  return out;
}

/** A camera config with the schema's defaults applied, as the app would get it. */
export function cameraConfig(camera: Record<string, unknown>): CameraConfig {
  return parseConfig({ cameras: [{ id: 'cam1', ...camera }] }).cameras[0]!;
}

export interface CopiedFrame {
  seq: number;
  capturedAt: number;
  width: number;
  height: number;
  data: Buffer;
  full?: { width: number; height: number; data: Buffer };
  sourceFile?: string;
}

function copyFrame(frame: Frame): CopiedFrame {
  return {
    seq: frame.seq,
    capturedAt: frame.capturedAt,
    width: frame.width,
    height: frame.height,
    data: Buffer.from(frame.data),
    ...(frame.full ? { full: { width: frame.full.width, height: frame.full.height, data: Buffer.from(frame.full.data) } } : {}),
    ...(frame.sourceFile ? { sourceFile: frame.sourceFile } : {}),
  };
}

/** Takes `count` frames (copies, originals released), failing after `timeoutMs`. */
export async function takeFrames(camera: Camera, count: number, timeoutMs = 15_000): Promise<CopiedFrame[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  const frames: CopiedFrame[] = [];
  while (frames.length < count) {
    const frame = await camera.next(signal);
    if (!frame) throw new Error(`got ${frames.length} of ${count} frames; status ${JSON.stringify(camera.status())}`);
    frames.push(copyFrame(frame));
    frame.release();
  }
  return frames;
}

/** Live child processes of this test process whose command line contains `marker`. */
export async function childProcesses(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state, ppid, ...
      const [procState, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || procState === 'Z') continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // The process went away while we looked.
    }
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Mean absolute difference per byte of two equally sized images. */
export function meanAbsDiff(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

export function mean(buf: Buffer): number {
  let sum = 0;
  for (const v of buf) sum += v;
  return sum / buf.length;
}
