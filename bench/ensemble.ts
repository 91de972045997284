// Would two models' anomaly scores, averaged, beat either? A screen for feature candidates before
// building them into one graph: `bench/quality.ts`'s protocol (seeded folds over the good images,
// every defect in every fold), every configuration fitted with `visor fit`'s code and scored with
// `visor eval`'s, then each image's calibrated scores (1.0 = each model's threshold) averaged over
// every pair of configurations.
//   npx tsx bench/ensemble.ts --sets elpv --configs '[{}, {"backbone":"pplcnet"}]' [--runs N] [--start S] [--threads 1]
// A configuration is `visor fit`'s options as JSON (FitOptions: backbone, layers, inputSize, head,
// search, …). Prints one line per fold and set: each configuration's AUROC, then every pair's.
import { parseArgs } from 'node:util';
import { auroc, kFolds } from '../src/modelling/fit/stats.js';
import { fitAndEvaluate, mean, productImages, SETS, std, type FoldFitOptions } from './protocol.js';

const { values: args } = parseArgs({
  options: {
    sets: { type: 'string', default: 'elpv' },
    configs: { type: 'string', default: '[{}]' },
    folds: { type: 'string', default: '5' },
    runs: { type: 'string' },
    start: { type: 'string', default: '0' },
    seed: { type: 'string', default: '7' },
    threads: { type: 'string', default: '1' },
  },
});
const configs = JSON.parse(args.configs) as FoldFitOptions[];
const K = Number(args.folds);
const START = Number(args.start);
const RUNS = Math.min(K - START, args.runs === undefined ? K : Number(args.runs));
const name = (c: FoldFitOptions, i: number): string => `#${i} ${JSON.stringify(c)}`;
const pairs = configs.flatMap((_, i) => configs.flatMap((__, j) => (j > i ? [[i, j] as const] : [])));

for (const set of args.sets.split(',')) {
  const dataset = SETS[set];
  if (!dataset || set === 'paper-types') throw new Error(`unknown set ${set} (sets: elpv, casting, paper)`);
  const all = productImages(dataset);
  const goods = all.filter((i) => i.label === 'good');
  const defects = all.filter((i) => i.label === 'defect');
  const single: number[][] = configs.map(() => []);
  const paired: number[][] = pairs.map(() => []);
  for (const [f, held] of kFolds(goods.length, K, Number(args.seed)).slice(START, START + RUNS).entries()) {
    const heldSet = new Set(held);
    const train = goods.filter((_, i) => !heldSet.has(i));
    const test = [...held.map((i) => goods[i]!), ...defects];
    // Per configuration: score of every test image, by its path.
    const scores: Map<string, number>[] = [];
    for (const c of configs) {
      const r = await fitAndEvaluate(train, test, { threads: Number(args.threads), ...c });
      scores.push(new Map(r.scored.map((s) => [s.source.path, s.score])));
    }
    const aurocOf = (score: (path: string) => number): number =>
      auroc(test.filter((t) => t.label === 'good').map((t) => score(t.path)), test.filter((t) => t.label === 'defect').map((t) => score(t.path)));
    const line: string[] = [];
    scores.forEach((s, i) => {
      single[i]!.push(aurocOf((p) => s.get(p)!));
      line.push(`#${i} ${single[i]!.at(-1)!.toFixed(3)}`);
    });
    pairs.forEach(([i, j], k) => {
      paired[k]!.push(aurocOf((p) => (scores[i]!.get(p)! + scores[j]!.get(p)!) / 2));
      line.push(`#${i}+#${j} ${paired[k]!.at(-1)!.toFixed(3)}`);
    });
    console.log(`[ensemble] ${set} fold ${START + f}: ${line.join('  ')}`);
  }
  const fmt = (xs: number[]): string => `${mean(xs).toFixed(3)} ± ${std(xs).toFixed(3)}`;
  configs.forEach((c, i) => console.log(`${set} ${name(c, i)}: ${fmt(single[i]!)}`));
  pairs.forEach(([i, j], k) => console.log(`${set} #${i}+#${j}: ${fmt(paired[k]!)}`));
}
