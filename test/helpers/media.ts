import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES } from './paths.js';

const run = promisify(execFile);

/** Fixture cell images, sorted. */
export async function fixtureImages(): Promise<string[]> {
  return (await readdir(FIXTURES)).filter((f) => f.endsWith('.png')).sort().map((f) => path.join(FIXTURES, f));
}

/** Makes an H.264 video of the fixture cells (each shown for 1/fps s), repeated `repeat` times. */
export async function makeFixtureVideo(out: string, options: { fps?: number; repeat?: number } = {}): Promise<string> {
  const fps = options.fps ?? 10;
  await run('ffmpeg', [
    '-v', 'error', '-y',
    '-stream_loop', String((options.repeat ?? 1) - 1),
    '-framerate', String(fps), '-pattern_type', 'glob', '-i', path.join(FIXTURES, '*.png'),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-r', String(fps), '-g', String(fps),
    out,
  ]);
  return out;
}
