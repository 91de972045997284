// Quality of `visor fit` across products, unsupervised: the yardstick for changes to the fit.
//   npx tsx bench/quality.ts [--sets elpv,casting,paper,paper-types] [--folds 5] [--runs N]
//                            [--types PU_PNG01_TL,…] [--json] [--audit] [fit options, as `visor fit`:
//                            --backbone --layers --input-size --grid --modes --global-weight
//                            --per-position --top-k --head --normalise --bank-size --partner-backbone --no-search --threads]
// Protocol, the same for every set: 5 seeded folds over the good images; fit on 4/5 of them,
// evaluate with `visor eval`'s code on the other 1/5 plus every defect image. `paper` is all 13
// paper types in one model; `paper-types` one model per type (figures averaged over the 12 types
// that have defect images).
// ELPV's 12 fixture cells (test/fixtures/elpv) and its uncertain cells are never used.
// `--runs N` runs only the first N of the folds (a quick look; the figures move by about ±0.01),
// `--start S` skips the first S.
// Prints one row per set: AUROC mean ± std over folds, recall at 1% and 5% false alarms, fit
// seconds (wall, and CPU seconds of all threads: on a shared machine the wall time mostly
// measures the others), ms per image (`visor eval`: one thread, preprocess + graph; in brackets
// the CPU ms per image of the whole evaluation, decoding included) and the model's size.
// `--audit` checks the search's label-free choice against real labels: every candidate it tries
// also scores the fold's real defects out-of-fold (the fit's cross-validation heads, so about
// 0.005 below a fitted model), and one line per fold gives each candidate's AUROC on the synthetic
// defects it is ranked by (the faint ones) and on the real ones, what the synthetic defects chose
// and what the real ones would have; then a line by strength (faint/plain) and one by kind.
// Data: found by datasets/index.ts (`npm run datasets -- fetch NAME` gets a missing set).
import { parseArgs } from 'node:util';
import { kFolds } from '../src/modelling/fit/stats.js';
import type { Audited } from '../src/modelling/fit/fit.js';
import { fitAndEvaluate, mean, productImages, r3, SETS, std, type FoldFitOptions, type ProductImage } from './protocol.js';

const { values: args } = parseArgs({
  options: {
    sets: { type: 'string', default: 'elpv,casting,paper,paper-types' },
    folds: { type: 'string', default: '5' },
    runs: { type: 'string' },
    start: { type: 'string', default: '0' },
    types: { type: 'string' },
    seed: { type: 'string', default: '7' },
    json: { type: 'boolean', default: false },
    audit: { type: 'boolean', default: false },
    backbone: { type: 'string' },
    layers: { type: 'string' },
    'input-size': { type: 'string' },
    grid: { type: 'string' },
    modes: { type: 'string' },
    'global-weight': { type: 'string' },
    'per-position': { type: 'string' },
    'top-k': { type: 'string' },
    head: { type: 'string' },
    normalise: { type: 'string' },
    'bank-size': { type: 'string' },
    'partner-backbone': { type: 'string' },
    'no-search': { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
  },
});
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const fitOptions: FoldFitOptions = {
  backbone: args.backbone,
  layers: args.layers?.split(','),
  inputSize: num(args['input-size']),
  grid: num(args.grid),
  modes: num(args.modes),
  globalWeight: num(args['global-weight']),
  perPosition: num(args['per-position']),
  topK: num(args['top-k']),
  head: args.head as FoldFitOptions['head'],
  normalise: args.normalise as FoldFitOptions['normalise'],
  bankSize: num(args['bank-size']),
  partnerBackbone: args['partner-backbone'],
  search: args['no-search'] ? false : undefined,
  threads: Number(args.threads),
};
const K = Number(args.folds);
const START = Number(args.start);
const RUNS = Math.min(K - START, num(args.runs) ?? K - START);
const SEED = Number(args.seed);

interface FoldFigures {
  auroc: number;
  r1: number;
  r5: number;
  fitSeconds: number;
  fitCpuSeconds: number;
  msPerImage: number;
  cpuMsPerImage: number;
  modelMb: number;
}

/** The protocol on one product: folds over its good images, every defect in every fold. */
async function runProduct(label: string, all: readonly ProductImage[]): Promise<FoldFigures[]> {
  const goods = all.filter((i) => i.label === 'good');
  const defects = all.filter((i) => i.label === 'defect');
  const out: FoldFigures[] = [];
  for (const [i, held] of kFolds(goods.length, K, SEED).slice(START, START + RUNS).entries()) {
    const f = START + i;
    const heldSet = new Set(held);
    const train = goods.filter((_, i) => !heldSet.has(i));
    const test = [...held.map((i) => goods[i]!), ...defects];
    const r = await fitAndEvaluate(train, test, fitOptions, [], args.audit ? { auditDefects: defects.map((d) => d.path) } : {});
    if (r.fit.audit) printAudit(label, f, r.fit.audit);
    const figures = { auroc: r.report.auroc, r1: r.report.recall_at_fpr_1pct, r5: r.report.recall_at_fpr_5pct, fitSeconds: r.fit.seconds, fitCpuSeconds: Math.round(r.fitCpuSeconds * 10) / 10, msPerImage: r.report.ms_per_image, cpuMsPerImage: Math.round(r.evalCpuMsPerImage * 10) / 10, modelMb: r3(r.modelMb) };
    out.push(figures);
    if (args.json) console.log(JSON.stringify({ product: label, fold: f, fit: train.length, test: test.length, ...figures, choice: r.fit.manifest.provenance?.fit }));
  }
  return out;
}

/** One line per fold: each candidate's synthetic / real AUROC, the synthetic choice (*) and the real best (!). */
function printAudit(label: string, fold: number, audit: readonly Audited[]): void {
  const name = (a: Audited): string => `${a.inputSize}${a.grid ? `g${a.grid}` : ''}/${a.head}/${a.normalise}/k${a.topK}`;
  const chosen = audit.find((a) => a.chosen) ?? audit[0]!;
  const real = audit.reduce((a, b) => (b.realAuroc > a.realAuroc ? b : a));
  const cells = audit.map((a) => `${name(a)} ${a.auroc.toFixed(3)}/${a.realAuroc.toFixed(3)}${a === chosen ? '*' : ''}${a === real ? '!' : ''}`);
  console.log(`[audit] ${label} fold ${fold}: ${cells.join('  ')}  | chosen ${name(chosen)} real ${chosen.realAuroc.toFixed(3)}, best real ${name(real)} ${real.realAuroc.toFixed(3)}`);
  if (audit[0]!.byStrength) console.log(`[audit] ${label} fold ${fold} by strength (faint/plain): ${audit.map((a) => `${name(a)} ${a.byStrength!.faint.toFixed(3)}/${a.byStrength!.plain.toFixed(3)}`).join('  ')}`);
  if (audit[0]!.byKind) console.log(`[audit] ${label} fold ${fold} by kind: ${audit.map((a) => `${name(a)} ${Object.entries(a.byKind!).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ')}`).join('; ')}`);
}

const rows: { product: string; figures: FoldFigures[]; aurocSpread: number[] }[] = [];
const report = (product: string, figures: FoldFigures[], spread = figures.map((f) => f.auroc)): void => {
  rows.push({ product, figures, aurocSpread: spread });
  if (!args.json) console.error(`[bench/quality] ${product}: AUROC ${r3(mean(figures.map((f) => f.auroc)))} (${figures.length} fold(s))`);
};
const t0 = performance.now();
for (const set of args.sets.split(',')) {
  const dataset = SETS[set];
  if (!dataset) throw new Error(`unknown set ${set} (sets: ${Object.keys(SETS).join(', ')})`);
  const all = productImages(dataset);
  if (set !== 'paper-types') {
    report(set, await runProduct(set, all));
    continue;
  }
  // A type without defect images (PU_PNG01_TL has none) cannot be measured on its own.
  const kinds = (args.types?.split(',') ?? [...new Set(all.map((i) => i.kind))].sort()).filter((k) => all.some((i) => i.kind === k && i.label === 'defect'));
  const perType: FoldFigures[][] = [];
  for (const kind of kinds) perType.push(await runProduct(`paper:${kind}`, all.filter((i) => i.kind === kind)));
  // Mean ± std over the types' mean AUROCs; the other columns averaged over every type and fold.
  report(`paper, per type (${kinds.length} models)`, perType.flat(), perType.map((t) => mean(t.map((f) => f.auroc))));
}

const fmt = (xs: number[], digits = 3): string => xs.length === 0 ? '' : mean(xs).toFixed(digits);
const lines = [
  '| product | AUROC | recall @1% FA | recall @5% FA | fit s (CPU s) | ms/image (CPU ms) | model MB |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(({ product, figures: f, aurocSpread }) =>
    `| ${product} | ${fmt(aurocSpread)} ± ${std(aurocSpread).toFixed(3)} | ${fmt(f.map((x) => x.r1))} | ${fmt(f.map((x) => x.r5))} | ${fmt(f.map((x) => x.fitSeconds), 1)} (${fmt(f.map((x) => x.fitCpuSeconds), 1)}) | ${fmt(f.map((x) => x.msPerImage), 1)} (${fmt(f.map((x) => x.cpuMsPerImage), 1)}) | ${fmt(f.map((x) => x.modelMb), 1)} |`),
];
const target = rows.filter((r) => ['elpv', 'casting', 'paper'].includes(r.product));
if (target.length === 3) lines.push('', `mean AUROC over elpv, casting, paper: ${fmt(target.map((r) => mean(r.aurocSpread)))}; lowest ${Math.min(...target.map((r) => mean(r.aurocSpread))).toFixed(3)}`);
lines.push('', `${RUNS} of ${K} folds${START > 0 ? ` from fold ${START}` : ''}, seed ${SEED}, fit options ${JSON.stringify(fitOptions)}; ${Math.round((performance.now() - t0) / 1000)} s`);
console.log(lines.join('\n'));
