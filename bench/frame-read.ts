// What reading full-resolution frames off a socket costs the frame reader thread: a process of
// its own writes 1280x720 PPM frames to a Unix socket as fast as they are read, and this thread
// reads them with the app's PpmFrameReader, either into each frame's buffer in place (what the
// frame reader thread does, reader.target()) or through a scratch buffer that is then copied.
// Prints frames/s and this thread's CPU time per frame for each, alternating, in one run.
// Run: npx tsx bench/frame-read.ts [--frames 300] [--rounds 3]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PpmFrameReader } from '../src/capture/readers.js';
import { threadTimes } from '../test/helpers/thread-times.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const FRAMES = arg('frames', 300);
const ROUNDS = arg('rounds', 3);
const WIDTH = 1280;
const HEIGHT = 720;


// The writer: ffmpeg's part, in a process of its own so its CPU is not counted here.
const writer = `
const net = require('node:net');
const [socketPath, frames, w, h] = process.argv.slice(1);
const frame = Buffer.concat([Buffer.from('P6\\n' + w + ' ' + h + '\\n255\\n'), Buffer.alloc(w * h * 3, 7)]);
net.createServer((s) => {
  let left = Number(frames);
  const write = () => { while (left > 0) { left--; if (!s.write(frame)) return void s.once('drain', write); } s.end(); };
  write();
}).listen(socketPath, () => process.stdout.write('ready\\n'));
`;

async function round(inPlace: boolean): Promise<{ fps: number; cpuMsPerFrame: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'visor-frame-read-'));
  const socketPath = path.join(dir, 'full.sock');
  const child = spawn(process.execPath, ['-e', writer, socketPath, String(FRAMES), String(WIDTH), String(HEIGHT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const buffers = [Buffer.alloc(WIDTH * HEIGHT * 3), Buffer.alloc(WIDTH * HEIGHT * 3)];
  let n = 0;
  const reader = new PpmFrameReader(
    () => buffers[n % 2],
    () => n++,
    (message) => {
      throw new Error(message);
    },
  );
  const scratch = Buffer.allocUnsafe(1 << 20);
  const started = performance.now();
  const cpu0 = threadTimes().cpu;
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({
      path: socketPath,
      onread: {
        buffer: inPlace ? () => reader.target() ?? scratch : scratch,
        callback: (bytes: number, buf: Uint8Array) => {
          reader.push(Buffer.from(buf.buffer, buf.byteOffset, bytes));
          return true;
        },
      },
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
  const cpu = threadTimes().cpu - cpu0;
  const seconds = (performance.now() - started) / 1000;
  child.kill();
  fs.rmSync(dir, { recursive: true, force: true });
  if (n !== FRAMES) throw new Error(`read ${n} of ${FRAMES} frames`);
  return { fps: n / seconds, cpuMsPerFrame: cpu / n };
}

console.log(`| round | read | frames/s | reader CPU ms / frame |`);
console.log(`|---|---|---|---|`);
for (let r = 1; r <= ROUNDS; r++) {
  for (const inPlace of [true, false]) {
    const { fps, cpuMsPerFrame } = await round(inPlace);
    console.log(`| ${r} | ${inPlace ? 'in place' : 'scratch + copy'} | ${fps.toFixed(0)} | ${cpuMsPerFrame.toFixed(2)} |`);
  }
}
