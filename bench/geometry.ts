// What the geometry does for a strongly non-square part: strips of four ELPV poly cells side by
// side (1200x300), fitted and evaluated with each geometry, as `visor fit` / `visor eval` do.
//   npx tsx bench/geometry.ts [--folds 3] [--defects 40] [--threads 2] [--variants tiled,pad,stretch]
// Good strips: four good cells. Defect strips: three good cells (from another pool, never in a
// good strip) and one defect cell at a random position. Folds go over the good strips; every
// defect strip is in every fold's test set. Variants:
//   tiled    the geometry visor fit chooses (pad to 1024x256, 5 tiles of 256x256)
//   pad      one view: padded into 256x256 (--no-tiling), the strip 256x64 in the middle
//   stretch  one view, squashed to 256x256 (--resize stretch --no-tiling: what every fit did before)
// Prints one JSON line per fold and variant, then a summary per variant.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { datasetDir } from '../datasets/index.js';
import type { Resize } from '../src/common/geometry.js';
import { silentLogger } from '../src/common/log.js';
import { evaluateModel } from '../src/modelling/fit/eval.js';
import { fitModel } from '../src/modelling/fit/fit.js';
import { kFolds } from '../src/modelling/fit/stats.js';

const { values: args } = parseArgs({
  options: {
    folds: { type: 'string', default: '3' },
    defects: { type: 'string', default: '40' },
    threads: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'tiled,pad,stretch' },
    seed: { type: 'string', default: '7' },
  },
});
const CELL = 300;
const PER_STRIP = 4;
const VARIANTS: Record<string, { resize: Resize; tiling: boolean }> = {
  tiled: { resize: 'pad', tiling: true },
  pad: { resize: 'pad', tiling: false },
  stretch: { resize: 'stretch', tiling: false },
};
const log = silentLogger();
const dataDir = datasetDir('elpv-dev');

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function writeStrip(files: readonly string[], out: string): Promise<void> {
  const cells = await Promise.all(files.map((f) => sharp(path.join(dataDir, f)).removeAlpha().resize(CELL, CELL).png().toBuffer()));
  await sharp({ create: { width: CELL * files.length, height: CELL, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(cells.map((input, i) => ({ input, left: i * CELL, top: 0 })))
    .png()
    .toFile(out);
}

async function main(): Promise<void> {
  const rand = seeded(Number(args.seed));
  const shuffle = <T>(xs: T[]): T[] => xs.map((x) => [rand(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
  const rows = (await fs.readFile(path.join(dataDir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
  const poly = rows.filter((r) => r[2] === 'poly');
  const good = shuffle(poly.filter((r) => r[3] === 'good').map((r) => r[0]!));
  const defect = shuffle(poly.filter((r) => r[3] === 'defect').map((r) => r[0]!)).slice(0, Number(args.defects));
  // Every good cell is used once: in a good strip, or as one of the three good cells of a defect strip.
  const nStrips = Math.floor((good.length - 3 * defect.length) / PER_STRIP);
  const fillers = good.slice(nStrips * PER_STRIP);

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'visor-bench-geometry-'));
  try {
    const all = path.join(tmp, 'all');
    await fs.mkdir(all);
    const goodStrips: string[] = [];
    for (let s = 0; s < nStrips; s++) {
      const name = `good${String(s).padStart(3, '0')}.png`;
      await writeStrip(good.slice(s * PER_STRIP, (s + 1) * PER_STRIP), path.join(all, name));
      goodStrips.push(name);
    }
    const defectStrips: string[] = [];
    for (let d = 0; d < defect.length && (d + 1) * 3 <= fillers.length; d++) {
      const cells = fillers.slice(d * 3, d * 3 + 3);
      cells.splice(Math.floor(rand() * PER_STRIP), 0, defect[d]!);
      const name = `defect${String(d).padStart(3, '0')}.png`;
      await writeStrip(cells, path.join(all, name));
      defectStrips.push(name);
    }
    console.error(`${goodStrips.length} good strips, ${defectStrips.length} defect strips (1200x300, poly cells)`);

    const folds = kFolds(goodStrips.length, Number(args.folds), Number(args.seed));
    const results: Record<string, { auroc: number[]; recall5: number[]; fitS: number[]; ms: number[] }> = {};
    for (const [f, held] of folds.entries()) {
      const heldSet = new Set(held);
      const fitDir = path.join(tmp, `fit${f}`);
      const testDir = path.join(tmp, `test${f}`);
      await fs.mkdir(fitDir);
      await fs.mkdir(testDir);
      for (const [i, name] of goodStrips.entries()) await fs.symlink(path.join(all, name), path.join(heldSet.has(i) ? testDir : fitDir, name));
      for (const name of defectStrips) await fs.symlink(path.join(all, name), path.join(testDir, name));
      const labels = [...held.map((i) => `${goodStrips[i]},good`), ...defectStrips.map((n) => `${n},defect`)];
      await fs.writeFile(path.join(testDir, 'labels.csv'), `file,label\n${labels.join('\n')}\n`);
      for (const variant of args.variants.split(',')) {
        const v = VARIANTS[variant];
        if (!v) throw new Error(`unknown variant ${variant} (known: ${Object.keys(VARIANTS).join(', ')})`);
        const out = path.join(tmp, `model-${variant}-${f}`);
        const fit = await fitModel({ goodDir: fitDir, outDir: out, name: `strips-${variant}`, threads: Number(args.threads), ...v }, { log });
        const { report } = await evaluateModel({ modelDir: out, dataDir: testDir, threads: 1 }, { log });
        const line = { fold: f, variant, geometry: fit.geometry, auroc: report.auroc, recall_at_fpr_5pct: report.recall_at_fpr_5pct, fit_s: fit.seconds, ms_per_image: report.ms_per_image, n_good: report.n_good, n_defect: report.n_defect };
        console.log(JSON.stringify(line));
        const r = (results[variant] ??= { auroc: [], recall5: [], fitS: [], ms: [] });
        r.auroc.push(report.auroc);
        r.recall5.push(report.recall_at_fpr_5pct);
        r.fitS.push(fit.seconds);
        r.ms.push(report.ms_per_image);
      }
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
    const f3 = (x: number): string => x.toFixed(3);
    console.log('| geometry | image AUROC | recall at 5% false alarms | fit s | ms/image (1 thread) |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const [variant, r] of Object.entries(results)) {
      console.log(`| ${variant} | ${f3(mean(r.auroc))} ± ${f3(std(r.auroc))} | ${f3(mean(r.recall5))} | ${mean(r.fitS).toFixed(1)} | ${mean(r.ms).toFixed(1)} |`);
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

await main();
