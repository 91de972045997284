// The pipeline's end-to-end throughput against bare session.run on the same model, in
// one run (the ratio is what to compare: this machine is shared and noisy), and
// frame-arrival-to-stored latency at a camera rate below capacity.
//   npm run bench [-- --seconds 20]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../src/app.js';
import { parseConfig } from '../src/config/index.js';
import { createInferencer, loadModelPackage } from '../src/inference/index.js';
import { silentLogger } from '../src/log.js';
import type { Inspection } from '../src/types.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = path.join(REPO, 'models/elpv-cells');
const FIXTURES = path.join(REPO, 'test/fixtures/elpv');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 15;
const log = silentLogger();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function bareSessionRun(): Promise<number> {
  const inferencer = await createInferencer({ pkg: await loadModelPackage(MODEL), threads: 1, log });
  const { width, height } = inferencer.inputSize;
  const input = new Float32Array(3 * width * height).map(() => Math.random());
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    await inferencer.runRaw(input);
    n++;
  }
  await inferencer.close();
  return n / seconds;
}

async function pipeline(fps: number, dir: string, source: string): Promise<{ fps: number; latencies: number[]; dropped: number }> {
  const config = parseConfig({
    cameras: [{ id: 'bench', source, fps, loop: true }],
    model: { package: MODEL, threads: 1 },
    store: { dataDir: path.join(dir, `data-${fps}`) },
    review: { enabled: false },
  });
  const seen: Inspection[] = [];
  const app = await createApp({ config, baseDir: dir, log, onInspection: (i) => seen.push(i) });
  await app.start();
  // Skip start-up: count from the first inspection.
  while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
  const first = seen.length;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const counted = seen.slice(first);
  const elapsed = (Date.now() - t0) / 1000;
  const dropped = app.cameras[0]!.status().framesDropped;
  await app.stop();
  const latencies = counted.map((i) => i.decidedAt - i.capturedAt + (i.timings.storeMs ?? 0)).sort((a, b) => a - b);
  return { fps: counted.length / elapsed, latencies, dropped };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'visor-bench-'));
try {
  const video = path.join(dir, 'cells.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '9', '-framerate', '30', '-pattern_type', 'glob', '-i', path.join(FIXTURES, '*.png'),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-r', '30', video]);
  const bare = await bareSessionRun();
  const saturated = await pipeline(100, dir, video);
  const paced = await pipeline(Math.max(1, Math.floor(bare / 2)), dir, video);
  const result = {
    model: 'elpv-cells',
    seconds,
    bareSessionRunFps: Number(bare.toFixed(1)),
    pipelineFps: Number(saturated.fps.toFixed(1)),
    ratio: Number((saturated.fps / bare).toFixed(3)),
    saturatedDropped: saturated.dropped,
    pacedCameraFps: Math.max(1, Math.floor(bare / 2)),
    pacedFps: Number(paced.fps.toFixed(1)),
    frameToStoredMs: { p50: percentile(paced.latencies, 50), p99: percentile(paced.latencies, 99), n: paced.latencies.length },
    saturatedFrameToStoredMs: { p50: percentile(saturated.latencies, 50), p99: percentile(saturated.latencies, 99) },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
