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
import { silentLogger } from '../src/common/log.js';
import type { Inspection } from '../src/common/types.js';
import { until } from '../test/helpers/wait.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = path.join(REPO, 'models/elpv-cells');
const FIXTURES = path.join(REPO, 'test/fixtures/elpv');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 15;
const log = silentLogger();

const round = (x: number) => Number(x.toFixed(1));

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

interface PipelineRun {
  fps: number;
  latencies: number[];
  dropped: number;
  /** Mean ms per stage. */
  stages: Record<string, number>;
}

async function pipeline(fps: number, dir: string, source: string, fullResolution = true): Promise<PipelineRun> {
  const config = parseConfig({
    cameras: [{ id: 'bench', source, fps, loop: true, fullResolution }],
    model: { package: MODEL, threads: 1 },
    store: { dataDir: path.join(dir, `data-${fps}`) },
    review: { enabled: false },
  });
  const seen: { inspection: Inspection; storedAt: number }[] = [];
  const app = await createApp({ config, baseDir: dir, log });
  app.bus.on('inspection', ({ inspection, storedAt }) => seen.push({ inspection, storedAt }));
  await app.start();
  // Skip start-up: count from the first inspection.
  await until('the first inspection', () => seen.length > 0, 60_000, 20);
  const first = seen.length;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const counted = seen.slice(first);
  const elapsed = (Date.now() - t0) / 1000;
  const dropped = app.cameras[0]!.status().framesDropped;
  await app.stop();
  const latencies = counted.map((e) => e.storedAt - e.inspection.capturedAt).sort((a, b) => a - b);
  const mean = (pick: (i: Inspection) => number) => Number((counted.reduce((sum, e) => sum + pick(e.inspection), 0) / counted.length).toFixed(2));
  const stages = {
    queue: mean((i) => i.timings.queueMs),
    preprocess: mean((i) => i.timings.preprocessMs),
    inference: mean((i) => i.timings.inferenceMs),
    postprocess: mean((i) => i.timings.postprocessMs),
    encode: mean((i) => i.timings.encodeMs ?? 0),
    store: mean((i) => i.timings.storeMs ?? 0),
  };
  return { fps: counted.length / elapsed, latencies, dropped, stages };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'visor-bench-'));
try {
  const video = path.join(dir, 'cells.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '9', '-framerate', '30', '-pattern_type', 'glob', '-i', path.join(FIXTURES, '*.png'),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-r', '30', video]);
  const bare = await bareSessionRun();
  // A camera faster than the line can go: what the whole pipeline sustains.
  const saturated = await pipeline(120, dir, video);
  const saturatedNoFull = await pipeline(120, dir, video, false);
  // A typical line rate, well below capacity: latency without queueing behind the model.
  const paced = await pipeline(10, dir, video);
  const result = {
    model: 'elpv-cells',
    seconds,
    bareSessionRunFps: Number(bare.toFixed(1)),
    pipelineFps: Number(saturated.fps.toFixed(1)),
    ratio: Number((saturated.fps / bare).toFixed(3)),
    saturatedDropped: saturated.dropped,
    saturatedStagesMs: saturated.stages,
    pipelineFpsWithoutFullResolution: Number(saturatedNoFull.fps.toFixed(1)),
    ratioWithoutFullResolution: Number((saturatedNoFull.fps / bare).toFixed(3)),
    pacedCameraFps: 10,
    pacedFps: Number(paced.fps.toFixed(1)),
    frameToStoredMs: { p50: round(percentile(paced.latencies, 50)), p99: round(percentile(paced.latencies, 99)), n: paced.latencies.length },
    saturatedFrameToStoredMs: { p50: round(percentile(saturated.latencies, 50)), p99: round(percentile(saturated.latencies, 99)) },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
