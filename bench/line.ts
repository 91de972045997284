// The line with N RTSP cameras on this machine: ffmpeg publishes a clip of real ELPV cells
// per camera to the local RTSP server (as the capture tests do), the app reads them all,
// and per N this prints frames sent, read, inspected, dropped from the slot and never read,
// CPU per process (from /proc), frame-to-stored p50/p99 and, in the same run, bare
// session.run throughput of the model: alone, and right after each line's run beside N ffmpeg
// decoders reading the same streams as the app's readers do (the most the model can run here
// beside the decoding the line needs anyway). Two defect mixes: realistic (thresholds set so about
// 2% of the clip's frames are flagged) and flood (every frame a defect).
//   npx tsx bench/line.ts [--cameras 1,2,4,6,8] [--mix realistic,flood] [--seconds 10]
//                         [--width 1280 --height 720 --fps 10] [--threads 0] [--no-worker] [--stages] [--no-full]
// --no-full: the cameras without the full-resolution picture (what piping it costs the line).
// Counting starts SETTLE_MS after every camera was first inspected; "node CPU ms / frame" is
// this process's CPU time (all threads) per inspected frame, beside bare session.run's per run.
// --threads 0 (the default, as model.threads) lets the app choose from the cores and cameras;
// the bare session.run beside it then runs with what it picks for one camera.
//   npx tsx bench/line.ts --soak [--minutes 30] [--cameras 6] [--max-disk-mb 4096]   (saturated run, RSS per minute)
// Each soak minute prints RSS beside where it is (test/helpers/memory.ts): V8's heap as V8 counts
// it (now, and its peaks within the minute), its 256 KiB pages as resident in /proc/self/smaps,
// malloc's heap and arenas, other anonymous mappings, and the heap releases so far
// (visor_heap_releases_total). --max-disk-mb is store.maxDiskMb: small, retention evicts from the start.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { promisify } from 'node:util';
import { readLabels } from '../datasets/index.js';
import { createApp, type App } from '../src/app.js';
import { parseConfig } from '../src/config/index.js';
import { createInferencer, lineThreads, loadModelPackage } from '../src/inference/index.js';
import { silentLogger } from '../src/common/log.js';
import { ffmpegFrameFilter, type Resize } from '../src/common/geometry.js';
import { buildFfmpegArgs } from '../src/capture/index.js';
import type { Inspection } from '../src/common/types.js';
import { publish, startRtspServerProcess, stopPublisher, type RtspServerProcess } from '../test/helpers/rtsp.js';
import { heapPeaks, memoryBreakdown } from '../test/helpers/memory.js';
import { until } from '../test/helpers/wait.js';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..');
const MODEL = path.join(REPO, 'models/elpv-cells');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined && !process.argv[i + 1]!.startsWith('--') ? process.argv[i + 1]! : fallback;
}
const soak = process.argv.includes('--soak');
const cameraCounts = arg('cameras', soak ? '6' : '1,2,4,6,8').split(',').map(Number);
const mixes = arg('mix', soak ? 'flood' : 'realistic,flood').split(',') as Mix[];
const seconds = Number(arg('seconds', '10'));
const minutes = Number(arg('minutes', '30'));
const width = Number(arg('width', '1280'));
const height = Number(arg('height', '720'));
const fps = Number(arg('fps', '10'));
const threads = Number(arg('threads', '0'));
/** What the bare runs use: the app's choice for one camera when --threads is 0. */
const bareThreads = threads || lineThreads(1);
/** --no-worker: the model on the line's thread (model.worker false) instead of the default worker. */
const worker = !process.argv.includes('--no-worker');
/** The store's disk quota (store.maxDiskMb): a small one makes the soak evict images from its first minutes. */
const maxDiskMb = Number(arg('max-disk-mb', '4096'));
/** Distinct frames in the clip: 1 of them flagged in the realistic mix is 2%. */
const CLIP_FRAMES = 50;
const log = silentLogger();
/** Time the line runs before counting starts, once every camera was inspected. */
const SETTLE_MS = 2000;

type Mix = 'realistic' | 'flood';
const round = (x: number, d = 1) => Number(x.toFixed(d));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** utime + stime of a process in seconds, its parent and its command line; undefined once gone. */
function procCpu(pid: number): { cpu: number; ppid: number; cmd: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { cpu: (Number(fields[11]) + Number(fields[12])) / TICK, ppid: Number(fields[1]), cmd };
  } catch {
    return undefined;
  }
}

let rtspPid = 0;

/** CPU seconds of this process, the RTSP server and each child ffmpeg (camera readers and publishers). */
function cpuSnapshot(): Map<string, number> {
  const out = new Map<string, number>();
  out.set('node', procCpu(process.pid)!.cpu);
  out.set('rtsp', procCpu(rtspPid)?.cpu ?? 0);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = procCpu(Number(entry));
    if (!p || p.ppid !== process.pid || !p.cmd.includes('ffmpeg')) continue;
    const role = p.cmd.includes('rawvideo') ? 'reader' : 'publisher';
    const cam = /\/(r\d+cam\d+)/.exec(p.cmd)?.[1] ?? '?';
    out.set(`${role}:${cam}:${entry}`, p.cpu);
  }
  return out;
}

function cpuPercent(before: Map<string, number>, after: Map<string, number>, elapsed: number) {
  const pct = (key: string) => ((after.get(key)! - (before.get(key) ?? after.get(key)!)) / elapsed) * 100;
  const keys = [...after.keys()];
  const mean = (role: string) => {
    const k = keys.filter((x) => x.startsWith(`${role}:`));
    return k.length === 0 ? 0 : round(k.reduce((s, x) => s + pct(x), 0) / k.length);
  };
  return { node: round(pct('node')), rtspServer: round(pct('rtsp')), readerEach: mean('reader'), publisherEach: mean('publisher') };
}

/** A clip of real cells at the camera's resolution, one distinct cell per frame, keyframe every second. */
async function makeClip(dir: string): Promise<{ clip: string; cells: string[] }> {
  const rows = readLabels('elpv-dev');
  // A spread of the set: every k-th image, good and defect alike (the thresholds decide the mix).
  const step = Math.max(1, Math.floor(rows.length / CLIP_FRAMES));
  const cells = rows.filter((_, i) => i % step === 0).slice(0, CLIP_FRAMES).map((r) => r.path);
  const list = path.join(dir, 'cells.txt');
  const lines = cells.flatMap((c) => [`file '${c}'`, `duration ${1 / fps}`]);
  writeFileSync(list, [...lines, `file '${cells.at(-1)}'`].join('\n'));
  const clip = path.join(dir, 'cells.mp4');
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list,
    '-vf', `scale=${width}:${height},fps=${fps},format=yuv420p`, '-frames:v', String(CLIP_FRAMES),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(fps), '-r', String(fps), clip]);
  return { clip, cells };
}

/** The clip's frames scored as a camera delivers them (ffmpeg brings them to the model's frame). */
async function clipScores(clip: string): Promise<number[]> {
  const inferencer = await createInferencer({ pkg: await loadModelPackage(MODEL), threads: bareThreads, log });
  const { frame, resize } = inferencer.geometry;
  geometry = { frame, resize };
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', clip, '-vf', ffmpegFrameFilter(resize, frame), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
  });
  const bytes = frame.width * frame.height * 3;
  const scores: number[] = [];
  for (let o = 0; o + bytes <= stdout.length; o += bytes) {
    const r = await inferencer.infer({ width: frame.width, height: frame.height, pixelFormat: 'rgb24', data: stdout.subarray(o, o + bytes) });
    scores.push(r.output.score);
  }
  await inferencer.close();
  return scores;
}

/** Thresholds for a mix: realistic flags the clip's top 2% (one frame of 50), flood every frame. */
function thresholdsFor(mix: Mix, scores: number[]): { defect: number; uncertainBand: number } {
  const sorted = [...scores].sort((a, b) => b - a);
  if (mix === 'flood') return { defect: sorted.at(-1)! - 1, uncertainBand: 0 };
  const flagged = Math.max(1, Math.round(scores.length * 0.02));
  const above = sorted[flagged - 1]!;
  const below = sorted[flagged]!;
  return { defect: (above + below) / 2, uncertainBand: (above - below) / 4 };
}

async function bareSessionRun(runSeconds: number): Promise<{ fps: number; ms: number; cpuMs: number }> {
  const inferencer = await createInferencer({ pkg: await loadModelPackage(MODEL), threads: bareThreads, log });
  const { width: w, height: h } = inferencer.inputSize;
  const input = new Float32Array(3 * w * h).map(() => Math.random());
  const end = Date.now() + runSeconds * 1000;
  let n = 0;
  const t0 = performance.now();
  const cpu0 = procCpu(process.pid)!.cpu;
  while (Date.now() < end) {
    await inferencer.runRaw(input);
    n++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = procCpu(process.pid)!.cpu - cpu0;
  await inferencer.close();
  return { fps: n / elapsed, ms: (elapsed * 1000) / n, cpuMs: (cpu * 1000) / n };
}

/** The model's frame geometry (set by clipScores), for the decoders of bareBesideDecoders. */
let geometry: { frame: { width: number; height: number }; resize: Resize } | undefined;

/**
 * Bare session.run while N ffmpeg processes decode the cameras' streams exactly as the app's
 * readers do (same arguments; outputs thrown away instead of read): the most the model can
 * run on this machine beside the decoders the line needs anyway. The ratio to it is what the
 * line costs beyond decoding; the ratio to bare alone includes what decoding takes from the cores.
 */
async function bareBesideDecoders(rtsp: RtspServerProcess, names: string[], runSeconds: number): Promise<number> {
  const decoders = names.map((name) => {
    const args = buildFfmpegArgs({ kind: 'rtsp', input: rtsp.url(name), fps, loop: false, rtspTransport: 'udp', inferenceSize: geometry!.frame, resize: geometry!.resize, fullResolution: !process.argv.includes('--no-full'), sockets: { inference: 'x', full: 'x' } });
    // The outputs go to /dev/null: no socket, so none of its options (-timeout, -listen).
    const socketOption = (a: string) => a === '-listen' || a === '-timeout';
    const toNull = args.filter((a, i) => !socketOption(a) && !socketOption(args[i - 1] ?? '')).map((a) => (a.startsWith('unix:') ? '/dev/null' : a));
    return spawn('ffmpeg', ['-y', ...toNull], { stdio: 'ignore' });
  });
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS + 1000));
    return (await bareSessionRun(runSeconds)).fps;
  } finally {
    for (const d of decoders) d.kill('SIGKILL');
  }
}

interface Row {
  cameras: number;
  mix: Mix;
  seconds: number;
  sent: number;
  read: number;
  inspected: number;
  droppedSlot: number;
  neverRead: number;
  inspectedFps: number;
  minCameraFps: number;
  defects: number;
  /** visor_camera_frames_lost_total over the run: what the cameras themselves counted as never read. */
  lostCounted: number;
  defectsStored: number;
  cpu: ReturnType<typeof cpuPercent>;
  /** CPU time of this process (all its threads) per inspected frame. */
  nodeCpuMsPerFrame: number;
  frameToStoredMs: { p50: number; p99: number };
  rssMb: { start: number; end: number };
  /** Mean ms per stage of the inspections counted. */
  stagesMs: Record<string, number>;
  eventLoopDelayMs: { p99: number; max: number };
  /** Bare session.run beside N decoders (bareBesideDecoders), measured right after the line's run. */
  bareBesideFps?: number;
  /** Bare session.run alone, right after that. */
  bareFps?: number;
}

let runs = 0;

async function line(rtsp: RtspServerProcess, clip: string, n: number, mix: Mix, thresholds: { defect: number; uncertainBand: number }, dir: string, runSeconds: number, onMinute?: (m: number, app: App) => Promise<void>): Promise<Row> {
  // Names of their own per run: the server may still hold the last run's mounts for a moment.
  const run = ++runs;
  const names = Array.from({ length: n }, (_, i) => `r${run}cam${i + 1}`);
  const publishers: ChildProcess[] = names.map((name) => publish(rtsp, clip, name));
  try {
    // The cameras retry until their stream is published; counting starts once each was inspected.
    await new Promise((r) => setTimeout(r, 1000));
    const config = parseConfig({
      cameras: names.map((id) => ({ id, source: rtsp.url(id), kind: 'rtsp', rtspTransport: 'udp', fps, fullResolution: !process.argv.includes('--no-full'), watchdog: { backoffInitialMs: 300, backoffMaxMs: 1000 } })),
      model: { package: MODEL, threads, thresholds, worker },
      store: { dataDir: path.join(dir, `data-${mix}-${n}`), maxDiskMb },
      review: { enabled: false },
    });
    const app = await createApp({ config, baseDir: dir, log, extensions: [] });
    // Running tallies, not the inspections: a soak must not measure the benchmark's own memory.
    const STAGES = ['queueMs', 'preprocessMs', 'inferenceMs', 'postprocessMs', 'encodeMs', 'storeMs'] as const;
    const tally = { inspected: 0, defects: 0, defectsStored: 0, perCamera: new Map<string, number>(), stages: new Map<string, number>(), latencies: [] as number[] };
    const count = (inspection: Inspection, storedAt: number): void => {
      tally.inspected++;
      tally.perCamera.set(inspection.cameraId, (tally.perCamera.get(inspection.cameraId) ?? 0) + 1);
      if (inspection.verdict === 'defect') {
        tally.defects++;
        if (inspection.imagePath !== undefined) tally.defectsStored++;
      }
      for (const k of STAGES) tally.stages.set(k, (tally.stages.get(k) ?? 0) + (inspection.timings[k] ?? 0));
      tally.latencies.push(storedAt - inspection.capturedAt);
    };
    let counting = false;
    app.bus.on('inspection', ({ inspection, storedAt }) => {
      if (counting) count(inspection, storedAt);
    });
    await app.start();
    let row: Row;
    try {
      // Skip start-up: count from SETTLE_MS after every camera was first inspected, so frames
      // read in the window were sent in it (not a connection's first frames, nor a backlog).
      const inspectedCams = new Set<string>();
      const offFirst = app.bus.on('inspection', ({ inspection }) => void inspectedCams.add(inspection.cameraId));
      await until('every camera inspected', () => inspectedCams.size === n, 60_000, 20);
      offFirst();
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const status0 = app.cameras.map((c) => c.status());
      const cpu0 = cpuSnapshot();
      const rss0 = process.memoryUsage().rss;
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      const t0 = performance.now();
      counting = true;
      if (onMinute) {
        for (let m = 1; m * 60 <= runSeconds; m++) {
          await new Promise((r) => setTimeout(r, 60_000));
          await onMinute(m, app);
        }
      } else {
        await new Promise((r) => setTimeout(r, runSeconds * 1000));
      }
      counting = false;
      loopDelay.disable();
      const elapsed = (performance.now() - t0) / 1000;
      const cpu1 = cpuSnapshot();
      const status1 = app.cameras.map((c) => c.status());
      const delta = (pick: (s: (typeof status0)[number]) => number) => status1.reduce((s, x, i) => s + pick(x) - pick(status0[i]!), 0);
      const read = delta((s) => s.framesIn);
      const sent = Math.round(fps * elapsed * n);
      const perCamera = names.map((id) => (tally.perCamera.get(id) ?? 0) / elapsed);
      const latencies = tally.latencies.sort((a, b) => a - b);
      row = {
        cameras: n,
        mix,
        seconds: round(elapsed),
        sent,
        read,
        inspected: tally.inspected,
        droppedSlot: delta((s) => s.framesDropped),
        neverRead: Math.max(0, sent - read),
        inspectedFps: round(tally.inspected / elapsed),
        minCameraFps: round(Math.min(...perCamera)),
        defects: tally.defects,
        defectsStored: tally.defectsStored,
        lostCounted: delta((s) => s.framesLost ?? 0),
        cpu: cpuPercent(cpu0, cpu1, elapsed),
        nodeCpuMsPerFrame: round(((cpu1.get('node')! - cpu0.get('node')!) * 1000) / Math.max(1, tally.inspected)),
        frameToStoredMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
        rssMb: { start: round(rss0 / 2 ** 20), end: round(process.memoryUsage().rss / 2 ** 20) },
        eventLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6), max: round(loopDelay.max / 1e6) },
        stagesMs: Object.fromEntries(
          STAGES.map((k) => [k.replace('Ms', ''), round((tally.stages.get(k) ?? 0) / Math.max(1, tally.inspected), 2)]),
        ),
      };
    } finally {
      await app.stop();
    }
    // Not in a soak: its figure is memory. Both right after the run, so the load on the machine
    // (shared, noisy) is about what the line had: the row's ratios are to these.
    if (!onMinute) {
      row.bareBesideFps = round(await bareBesideDecoders(rtsp, names, Math.min(10, runSeconds)), 1);
      row.bareFps = round((await bareSessionRun(Math.min(10, runSeconds))).fps, 1);
    }
    return row;
  } finally {
    await Promise.all(publishers.map((p) => stopPublisher(p)));
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'visor-bench-line-'));
const rtsp = await startRtspServerProcess();
rtspPid = rtsp.child.pid!;
try {
  const { clip } = await makeClip(dir);
  const scores = await clipScores(clip);
  const bare = await bareSessionRun(Math.min(10, seconds));
  console.log(JSON.stringify({ model: 'elpv-cells', resolution: `${width}x${height}`, fps, threads, bareThreads, worker, cores: os.availableParallelism(), bareSessionRun: { fps: round(bare.fps), ms: round(bare.ms, 2), cpuMs: round(bare.cpuMs, 2) }, clipFrames: scores.length }));
  if (soak) {
    const thresholds = thresholdsFor(mixes[0]!, scores);
    const rss: number[] = [];
    const peaks = heapPeaks();
    const row = await line(rtsp, clip, cameraCounts[0]!, mixes[0]!, thresholds, dir, minutes * 60, async (m, app) => {
      const mem = process.memoryUsage();
      const releases = (await app.metrics.registry.getSingleMetric('visor_heap_releases_total')?.get())?.values[0]?.value;
      rss.push(mem.rss / 2 ** 20);
      const mb = (x: number) => round(x / 2 ** 20);
      // Where RSS grows: V8's heap (used, and reserved), or memory outside it (Buffers, native).
      console.log(JSON.stringify({ minute: m, rssMb: round(rss.at(-1)!), heapMb: mb(mem.heapUsed), heapTotalMb: mb(mem.heapTotal), externalMb: mb(mem.external), arrayBuffersMb: mb(mem.arrayBuffers), ...peaks.take(), heapReleases: releases, ...memoryBreakdown() }));
    });
    peaks.stop();
    const at5 = rss[Math.min(4, rss.length - 1)]!;
    console.log(JSON.stringify({ ...row, rssGrowthMinute5ToEnd: `${round(((rss.at(-1)! - at5) / at5) * 100)}%` }));
  } else {
    console.log('| mix | cameras | sent | read | inspected | dropped (slot) | never read | lost (counted by the cameras) | inspected/s | bare alone, ratio to it | bare beside the decoders, ratio to it | slowest camera fps | defects stored | CPU node % | node CPU ms / frame | CPU RTSP server % | CPU reader ffmpeg % each | frame→stored p50 / p99 ms |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const mix of mixes) {
      const thresholds = thresholdsFor(mix, scores);
      for (const n of cameraCounts) {
        const r = await line(rtsp, clip, n, mix, thresholds, dir, seconds);
        const pct = (x: number) => `${x} (${round((x / r.sent) * 100)}%)`;
        console.log(
          `| ${mix} | ${n} | ${r.sent} | ${r.read} | ${pct(r.inspected)} | ${r.droppedSlot} | ${pct(r.neverRead)} | ${r.lostCounted} | ${r.inspectedFps} | ${r.bareFps}, ${round(r.inspectedFps / r.bareFps!, 2)} | ${r.bareBesideFps}, ${round(r.inspectedFps / r.bareBesideFps!, 2)} | ${r.minCameraFps} | ${r.defectsStored}/${r.defects} | ${r.cpu.node} | ${r.nodeCpuMsPerFrame} | ${r.cpu.rtspServer} | ${r.cpu.readerEach} | ${r.frameToStoredMs.p50} / ${r.frameToStoredMs.p99} |`,
        );
        if (process.argv.includes('--stages')) console.log(JSON.stringify({ mix, cameras: n, stagesMs: r.stagesMs, eventLoopDelayMs: r.eventLoopDelayMs, rssMb: r.rssMb }));
      }
    }
  }
} finally {
  await rtsp.close();
  rmSync(dir, { recursive: true, force: true });
}
