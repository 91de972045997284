// Cross-validated quality and cost of `visor fit` on the ELPV dev cells, measured with
// `visor eval`'s code on images not used for fitting.
//   npx tsx bench/fit.ts [--backbone NAME_OR_PATH] [--layers A,B] [--input-size N] [--scaling S]
//                        [--grid N] [--modes K] [--per-position M] [--global-weight W]
//                        [--mode unsupervised|supervised|both] [--folds 5] [--run K] [--threads 2]
//                        [--cell-type mono|poly]   (one kind of cell only: a single-product line)
//                        [--second-backbone NAME|none] [--second-layers A] [--second-input-size N] [--seed 7]
// Unsupervised: 5 fixed folds over the good cells; fit on 4/5 of the good cells, evaluate on the
// other 1/5 plus every defect cell. Supervised: stratified 5 folds over good + defect cells;
// fit (good folder + labels) on 4/5, evaluate on the other 1/5. The 12 fixture files and the
// uncertain cells are never used. Prints one JSON line per fold and a summary.
// Data: elpv-dev, found by datasets/index.ts (VISOR_DATASETS, then the development machines' copy, then
// data/datasets; `npm run datasets -- fetch elpv-dev` gets it).
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { datasetDir } from '../datasets/index.js';
import type { ScalingName } from '../src/modelling/backbones/load.js';
import { DEFAULTS } from '../src/modelling/fit/defaults.js';
import { auroc, kFolds } from '../src/modelling/fit/stats.js';
import { stratifiedFolds } from '../src/modelling/fit/logistic.js';
import { fitAndEvaluate, mean, r3, std, type StagedImage } from './protocol.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    backbone: { type: 'string', default: DEFAULTS.backbone },
    layers: { type: 'string' },
    'input-size': { type: 'string' },
    scaling: { type: 'string' },
    mode: { type: 'string', default: 'both' },
    folds: { type: 'string', default: '5' },
    run: { type: 'string' },
    threads: { type: 'string', default: '2' },
    'per-position': { type: 'string' },
    grid: { type: 'string' },
    modes: { type: 'string' },
    'global-weight': { type: 'string' },
    'cell-type': { type: 'string' },
    'second-backbone': { type: 'string' },
    'second-layers': { type: 'string' },
    'second-input-size': { type: 'string' },
    seed: { type: 'string', default: '7' },
  },
});
/** Fold seed: the figures in docs/fit.md use 7; another seed re-deals the folds (less optimistic for choices made on 7). */
const SEED = Number(args.seed);
const dataDir = datasetDir('elpv-dev');

interface Row extends StagedImage {
  file: string;
  cellType: string;
}

async function readDataset(): Promise<Row[]> {
  const lines = (await fs.readFile(path.join(dataDir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  const h = lines[0]!.split(',');
  const fixtures = new Set((await fs.readdir(path.join(repoRoot, 'test/fixtures/elpv'))).filter((f) => f.endsWith('.png')));
  return lines
    .slice(1)
    .map((l) => l.split(','))
    .map((c) => ({ file: c[h.indexOf('file')]!, path: path.join(dataDir, c[h.indexOf('file')]!), cellType: c[h.indexOf('cell_type')]!, label: c[h.indexOf('label')] as Row['label'] }))
    .filter((r) => (r.label === 'good' || r.label === 'defect') && !fixtures.has(path.basename(r.file)))
    .filter((r) => args['cell-type'] === undefined || r.cellType === args['cell-type']);
}

async function runMode(mode: 'unsupervised' | 'supervised', rows: Row[]): Promise<void> {
  const k = Number(args.folds);
  const goods = rows.filter((r) => r.label === 'good');
  const defects = rows.filter((r) => r.label === 'defect');
  const folds =
    mode === 'unsupervised'
      ? kFolds(goods.length, k, SEED).map((f) => {
          const held = new Set(f);
          return { train: goods.filter((_, i) => !held.has(i)), test: [...f.map((i) => goods[i]!), ...defects] };
        })
      : stratifiedFolds(rows.map((r) => (r.label === 'defect' ? 1 : 0)), k, SEED).map((f) => {
          const held = new Set(f);
          return { train: rows.filter((_, i) => !held.has(i)), test: f.map((i) => rows[i]!) };
        });
  const results: Record<string, number>[] = [];
  const only = args.run === undefined ? undefined : Number(args.run);
  for (const [fi, fold] of folds.entries()) {
    if (only !== undefined && fi !== only) continue;
    const good = fold.train.filter((r) => r.label === 'good');
    const { fit, report, scored, modelMb } = await fitAndEvaluate(
      good,
      fold.test,
      {
        backbone: args.backbone,
        layers: args.layers?.split(','),
        inputSize: args['input-size'] ? Number(args['input-size']) : undefined,
        scaling: args.scaling as ScalingName | undefined,
        perPosition: args['per-position'] ? Number(args['per-position']) : undefined,
        grid: args.grid ? Number(args.grid) : undefined,
        modes: args.modes ? Number(args.modes) : undefined,
        globalWeight: args['global-weight'] ? Number(args['global-weight']) : undefined,
        secondBackbone: args['second-backbone'],
        secondLayers: args['second-layers']?.split(','),
        secondInputSize: args['second-input-size'] ? Number(args['second-input-size']) : undefined,
        threads: Number(args.threads),
      },
      mode === 'supervised' ? fold.train : [],
    );
    const byType = (t: string): number => {
      const s = scored.filter((x) => (x.source as Row).cellType === t);
      return auroc(s.filter((x) => x.label === 'good').map((x) => x.score), s.filter((x) => x.label === 'defect').map((x) => x.score));
    };
    const row = {
      fold: fi,
      fitSeconds: fit.seconds,
      fitImages: good.length,
      auroc: report.auroc,
      mono: r3(byType('mono')),
      poly: r3(byType('poly')),
      ap: report.ap,
      accuracy: report.accuracy,
      recall_at_fpr_5pct: report.recall_at_fpr_5pct,
      false_alarm_rate: r3(report.confusion.fp / report.n_good),
      recall: r3(report.confusion.tp / report.n_defect),
      ms_per_image: report.ms_per_image,
      modelMb: r3(modelMb),
      modes: Number((fit.manifest.thresholds.calibration as unknown as { modes: number }).modes),
      modeSeparation: Number((fit.manifest.thresholds.calibration as unknown as { modeSeparation?: number }).modeSeparation ?? NaN),
    };
    results.push(row);
    console.log(JSON.stringify({ mode, ...row }));
  }
  const summary: Record<string, string> = {};
  for (const key of ['auroc', 'mono', 'poly', 'accuracy', 'recall_at_fpr_5pct', 'false_alarm_rate', 'fitSeconds', 'ms_per_image']) {
    const xs = results.map((r) => r[key]!);
    summary[key] = `${r3(mean(xs))} ± ${r3(std(xs))}`;
  }
  console.log(JSON.stringify({ mode, backbone: args.backbone, layers: args.layers ?? 'default', second: args['second-backbone'] ?? 'default', seed: SEED, cellType: args['cell-type'] ?? 'all', folds: results.length, summary }));
}

const rows = await readDataset();
console.log(`[bench/fit] ${dataDir}: ${rows.filter((r) => r.label === 'good').length} good, ${rows.filter((r) => r.label === 'defect').length} defect (fixtures and uncertain excluded)`);
for (const mode of ['unsupervised', 'supervised'] as const) if (args.mode === 'both' || args.mode === mode) await runMode(mode, rows);
