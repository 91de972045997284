// The learning loop end to end on a development set (docs/learning.md): the set's replay part
// plays as a camera (an image folder, looping), a scripted reviewer answers from the set's labels
// for the frames the queue shows it (the shadow disagreements first, then flagged frames, newest
// first; at most --per-hour verdicts an hour), and the loop runs with its defaults but for an
// automatic promotion and a fit every --every verdicts. The live model at the start is fitted on
// --start-good good images of the replay part only (unsupervised), as a first model on a new line.
// Prints, per set: AUROC on a fixed held-out quarter of the set for the live model at the start
// and after each promotion; the time from the N-th verdict to the promoted model (fit, shadow,
// promotion); the line's inspected frames per second without a candidate, while one is fitted and
// while one runs in shadow (the camera offers more frames than the line can take, so this is its
// capacity); and the frames the reviewer judged.
//   npx tsx bench/learning.ts [--datasets elpv-dev,casting-dev,paper-dev] [--minutes 6] [--per-hour 1800]
//                             [--every 30] [--min-frames 30] [--fps 30] [--start-good 20]
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isDatasetName, readLabels, type DatasetName } from '../datasets/index.js';
import { createApp } from '../src/app.js';
import { silentLogger } from '../src/common/log.js';
import { parseConfig } from '../src/config/index.js';
import { createInferencer, imageFromFile, loadModelPackage } from '../src/inference/index.js';
import type { Learning } from '../src/learning/index.js';
import { fitModel } from '../src/modelling/fit/index.js';
import { auroc } from '../src/modelling/fit/stats.js';
import { createReviewQueue } from '../src/review/queue.js';

const { values: args } = parseArgs({
  options: {
    datasets: { type: 'string', default: 'elpv-dev,casting-dev,paper-dev' },
    minutes: { type: 'string', default: '6' },
    'per-hour': { type: 'string', default: '1800' },
    every: { type: 'string', default: '30' },
    'min-frames': { type: 'string', default: '30' },
    fps: { type: 'string', default: '30' },
    'start-good': { type: 'string', default: '20' },
  },
});
const minutes = Number(args.minutes);
const perHour = Number(args['per-hour']);
const every = Number(args.every);
const minFrames = Number(args['min-frames']);

interface Row {
  file: string;
  path: string;
  label: 'good' | 'defect';
}

async function heldOutAuroc(modelDir: string, heldOut: Row[]): Promise<number> {
  const inferencer = await createInferencer({ pkg: await loadModelPackage(modelDir), threads: 1, log: silentLogger() });
  try {
    const neg: number[] = [];
    const pos: number[] = [];
    for (const r of heldOut) (r.label === 'defect' ? pos : neg).push((await inferencer.infer(await imageFromFile(r.path))).output.score);
    return auroc(neg, pos);
  } finally {
    await inferencer.close();
  }
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

async function runSet(name: DatasetName) {
  const rows: Row[] = readLabels(name)
    .filter((r) => r.label === 'good' || r.label === 'defect')
    .map((r) => ({ file: r.file, path: r.path, label: r.label as 'good' | 'defect' }))
    .sort((a, b) => a.file.localeCompare(b.file));
  // A fixed held-out quarter (every 4th file by name); the rest replays as the camera.
  const heldOut = rows.filter((_, i) => i % 4 === 0);
  const replay = rows.filter((_, i) => i % 4 !== 0);
  const dir = await mkdtemp(path.join(os.tmpdir(), `visor-bench-learning-${name}-`));
  try {
    const camera = path.join(dir, 'camera');
    const startGood = path.join(dir, 'start-good');
    await mkdir(camera);
    await mkdir(startGood);
    const labelOf = new Map<string, 'good' | 'defect'>();
    // Shuffled by a fixed stride, so good and defect frames mix as on a line.
    const order = replay.map((_, i) => (i * 7919) % replay.length);
    for (const [k, i] of order.entries()) {
      const r = replay[i]!;
      const linkName = `${String(k).padStart(5, '0')}${path.extname(r.file)}`;
      labelOf.set(linkName, r.label);
      await symlink(r.path, path.join(camera, linkName));
    }
    const goods = replay.filter((r) => r.label === 'good').slice(0, Number(args['start-good']));
    for (const [k, r] of goods.entries()) await symlink(r.path, path.join(startGood, `${k}${path.extname(r.file)}`));
    const startModel = path.join(dir, 'start-model');
    const fitStarted = performance.now();
    await fitModel({ goodDir: startGood, outDir: startModel, name: `${name}-start`, version: '1.0.0', search: false, tiling: false, threads: 1 }, { log: silentLogger() });
    const startFitSeconds = (performance.now() - fitStarted) / 1000;

    const config = parseConfig({
      cameras: [{ id: 'line', source: camera, fps: Number(args.fps), fullResolution: false }],
      model: { package: startModel },
      store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0.2 },
      review: { enabled: false },
      learning: { enabled: true, train: { everyVerdicts: every }, promotion: { auto: true, minFrames, minPerClass: 5, margin: 0.01 } },
    });
    const app = await createApp({ config, baseDir: dir, log: silentLogger() });
    const learning = (app.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
    const queue = createReviewQueue({ store: app.store });
    await app.start();

    // The line's rate, second by second, by what the loop was doing in that second.
    const samples: Record<'none' | 'fitting' | 'shadow' | 'fitting+shadow', number[]> = { none: [], fitting: [], shadow: [], 'fitting+shadow': [] };
    let lastInspected = 0;
    let judged = 0;
    /** What the rule said last about each candidate. */
    const reasons = new Map<string, string>();
    const verdictTimes: number[] = [];
    const gapMs = 3_600_000 / perHour;
    let nextVerdictAt = Date.now() + 5_000;
    const endAt = Date.now() + minutes * 60_000;
    while (Date.now() < endAt) {
      await new Promise((r) => setTimeout(r, 1000));
      const s = learning.status();
      const state = s.training && s.shadow ? 'fitting+shadow' : s.training ? 'fitting' : s.shadow ? 'shadow' : 'none';
      const inspected = app.pipeline.inspected;
      samples[state].push(inspected - lastInspected);
      lastInspected = inspected;
      if (s.candidate && s.promotion) reasons.set(s.candidate.version, s.promotion.reason);
      // The scripted reviewer: what the queue shows, disagreements first.
      while (Date.now() >= nextVerdictAt) {
        const item =
          queue.list({ limit: 1, verdict: 'all', shadow: 'disagree', review: 'unreviewed' }).items.find((i) => i.imagePath) ??
          queue.list({ limit: 1, verdict: 'flagged', review: 'unreviewed' }).items.find((i) => i.imagePath);
        if (!item) break;
        const label = labelOf.get(path.basename(item.sourceFile ?? ''));
        if (!label) break;
        // As the review API does: stored, then announced on the bus (where the loop's rules hear it).
        for (const recorded of app.store.reviews.record({ ids: [item.id], decision: label === 'defect' ? 'confirmed' : 'rejected', user: 'scripted' })) app.bus.emit('review', recorded);
        judged++;
        verdictTimes.push(Date.now());
        nextVerdictAt += gapMs;
      }
      if (nextVerdictAt < Date.now() - gapMs) nextVerdictAt = Date.now();
    }
    const status = learning.status();
    const candidates = app.store.db.prepare('SELECT version, status, created_at, finished_at, dir FROM learning_candidates ORDER BY created_at').all() as Array<{ version: string; status: string; created_at: number; finished_at: number | null; dir: string }>;
    await app.stop();

    const promotions = [...status.changes].reverse().filter((c) => c.action === 'promote');
    const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
    const result = {
      dataset: name,
      frames: { replay: replay.length, heldOut: heldOut.length },
      startModel: { fitSeconds: r1(startFitSeconds), heldOutAuroc: r3(await heldOutAuroc(startModel, heldOut)) },
      promotions: await Promise.all(
        promotions.map(async (p) => {
          const c = candidates.find((x) => x.version === p.toVersion)!;
          // The fit starts within half a second of the N-th verdict (the rule runs after each verdict).
          return {
            version: p.toVersion,
            heldOutAuroc: r3(await heldOutAuroc(p.toDir, heldOut)),
            fitSeconds: c.finished_at ? r1((c.finished_at - c.created_at) / 1000) : null,
            nthVerdictToPromotionSeconds: r1((p.at - c.created_at) / 1000),
            reviewedFramesCompared: (p as unknown as { comparison?: { frames: number } }).comparison?.frames,
          };
        }),
      ),
      candidates: await Promise.all(
        candidates.map(async (c) => ({
          version: c.version,
          status: c.status,
          fitSeconds: c.finished_at ? r1((c.finished_at - c.created_at) / 1000) : null,
          heldOutAuroc: c.finished_at && c.status !== 'failed' ? r3(await heldOutAuroc(c.dir, heldOut)) : null,
          rule: reasons.get(c.version),
        })),
      ),
      inspectedPerSecond: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, { mean: r1(mean(v)), seconds: v.length }])),
      reviewer: { judged, perHourCap: perHour },
      live: status.live,
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const name of args.datasets!.split(',')) {
  if (!isDatasetName(name)) throw new Error(`unknown dataset ${name}`);
  await runSet(name);
}
