// Calibration variants on saved out-of-fold outputs: the offline method of docs/fit.md. Features
// of every image are extracted once (default backbone, layers and 256 px input, the geometry the
// fit chooses, the default 8×8 grid) and, per fold of bench/quality.ts's protocol (5 seeded folds
// over the good images, seed 7), the local head and the Gaussian are cross-fitted over the fold's
// fit images as `visor fit` does; the out-of-fold outputs of those images and the fold heads'
// outputs of the fold's test images (its held-out good images and every defect) are saved. Each
// variant of the calibration is then calibrated on the out-of-fold outputs with calibrate.ts and
// measured on the test images in seconds (about 0.005–0.01 below the benchmark's figures, which
// come from heads refitted on all of a fold's fit images).
//   npx tsx bench/calibration.ts --sets elpv,casting [--kind poly] [--force-modes 2] [--folds 0,1,2,3,4] [--gaussians]
// --kind K      only the images of one kind (ELPV's cell_type, paper's type)
// --force-modes use that many texture modes whatever their separation (modes used wrongly)
// --gaussians   also the Gaussian fitted per mode (its own, the nearest, a shared covariance)
// The cache is in the system's temporary folder (visor-calibration-cache); delete it after
// changing the features or the heads.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readLabels, type DatasetName } from '../datasets/index.js';
import { resolveBackbone } from '../src/modelling/backbones/load.js';
import { calibrate, chooseModes, partsOf, type ModeChoice } from '../src/modelling/fit/calibrate.js';
import { crossFit, type HeldOut, type Sample } from '../src/modelling/fit/cross-fit.js';
import { forEachImage } from '../src/modelling/fit/data.js';
import { DEFAULTS } from '../src/modelling/fit/defaults.js';
import { createFeatureExtractor } from '../src/modelling/fit/features.js';
import { chooseGeometry, imageSizes } from '../src/modelling/fit/geometry.js';
import { fitGlobal, globalDistance, maxPooled } from '../src/modelling/fit/global.js';
import { fitModes, modeOf } from '../src/modelling/fit/modes.js';
import { decodeModel, opsetOf } from '../src/modelling/fit/onnx-graph.js';
import { auroc, kFolds } from '../src/modelling/fit/stats.js';
import { mean } from './protocol.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    sets: { type: 'string', default: 'elpv' },
    kind: { type: 'string' },
    'force-modes': { type: 'string' },
    folds: { type: 'string', default: '0,1,2,3,4' },
    gaussians: { type: 'boolean', default: false },
  },
});
const SETS: Record<string, DatasetName> = { elpv: 'elpv-dev', casting: 'casting-dev', paper: 'paper-dev' };
const cacheDir = path.join(os.tmpdir(), 'visor-calibration-cache');
mkdirSync(cacheDir, { recursive: true });
const far = DEFAULTS.targetFalseAlarmRate;
const w = DEFAULTS.globalWeight;
const topK = DEFAULTS.topK;

interface Image {
  path: string;
  label: 'good' | 'defect';
  kind: string;
}

/** One fold's saved outputs: indices into the set's images, the cross-fit's folds (over `train`), out-of-fold and test outputs. */
interface Fold {
  train: number[];
  test: number[];
  folds: number[][];
  goods: HeldOut[];
  tests: HeldOut[];
}

const toJson = (h: HeldOut) => ({ l: [...h.localHeat!], g: h.global });
const fromJson = (h: { l: number[]; g: number }): HeldOut => ({ localHeat: Float32Array.from(h.l), global: h.g });

async function load(set: string): Promise<{ images: Image[]; channels: number; sample: (i: number) => Sample; folds: Map<number, Fold> }> {
  const fixtures = set === 'elpv' ? new Set(readdirSync(path.join(repoRoot, 'test/fixtures/elpv')).filter((f) => f.endsWith('.png'))) : new Set<string>();
  const images: Image[] = readLabels(SETS[set]!)
    .filter((r) => (r.label === 'good' || r.label === 'defect') && !fixtures.has(path.basename(r.file)))
    .map((r) => ({ path: r.path, label: r.label as Image['label'], kind: r.kind ?? r.cell_type ?? '' }))
    .filter((r) => args.kind === undefined || r.kind === args.kind);
  const name = `${set}${args.kind ? `-${args.kind}` : ''}`;
  const backbone = await resolveBackbone(DEFAULTS.backbone);
  const geometry = chooseGeometry(await imageSizes(images.map((i) => i.path)), 256, {});
  const extractor = await createFeatureExtractor({ backbone, layers: [...DEFAULTS.layers], inputSize: 256, input: backbone.input, geometry: geometry.geometry }, 2, 1);
  if (extractor.tiles !== 1) throw new Error(`${set}: tiled geometry, not supported here`);
  const { layout, projectionDims: d } = extractor;
  const per = layout.channels * layout.height * layout.width;
  const perProjected = d * layout.height * layout.width;
  const file = path.join(cacheDir, `${name}.features.bin`);
  let all: Float32Array;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  } else {
    all = new Float32Array(images.length * (per + perProjected));
    await forEachImage(images.map((i) => i.path), async ({ image }, i) => {
      const t = (await extractor.extractTiles(image))[0]!;
      all.set(t.features, i * per);
      all.set(t.projected, images.length * per + i * perProjected);
    });
    writeFileSync(file, Buffer.from(all.buffer));
  }
  await extractor.close();
  const sample = (i: number): Sample => ({ file: images[i]!.path, features: all.subarray(i * per, (i + 1) * per), projected: all.subarray(images.length * per + i * perProjected, images.length * per + (i + 1) * perProjected) });
  const goodIdx = images.flatMap((im, i) => (im.label === 'good' ? [i] : []));
  const defectIdx = images.flatMap((im, i) => (im.label === 'defect' ? [i] : []));
  const benchFolds = kFolds(goodIdx.length, 5, 7);
  const folds = new Map<number, Fold>();
  for (const f of args.folds!.split(',').map(Number)) {
    const foldFile = path.join(cacheDir, `${name}.fold${f}.json`);
    if (!existsSync(foldFile)) {
      const held = new Set(benchFolds[f]!);
      const train = goodIdx.filter((_, j) => !held.has(j));
      const test = [...goodIdx.filter((_, j) => held.has(j)), ...defectIdx];
      const plan = { layout, projectionDims: d, opset: opsetOf(decodeModel(backbone.onnx)), heads: 'local' as const, perPosition: DEFAULTS.perPosition, bankSize: DEFAULTS.bankSize, topK, seed: DEFAULTS.seed };
      const cv = await crossFit(plan, train.map(sample), DEFAULTS.folds, 1, [{ samples: test.map(sample) }]);
      writeFileSync(foldFile, JSON.stringify({ train, test, folds: cv.folds, goods: cv.goods.map(toJson), tests: cv.extras[0]!.map(toJson) }));
    }
    const saved = JSON.parse(readFileSync(foldFile, 'utf8'));
    folds.set(f, { ...saved, goods: saved.goods.map(fromJson), tests: saved.tests.map(fromJson) });
  }
  return { images, channels: layout.channels, sample, folds };
}

/** The Gaussian part refitted per cross-fit fold: per mode, the nearest of the modes', or one shared covariance around each mode's mean. */
function gaussianPerMode(fold: Fold, sample: (i: number) => Sample, channels: number, modes: { good: number[]; test: number[]; k: number }, kind: 'own' | 'nearest' | 'shared'): { goods: HeldOut[]; tests: HeldOut[] } {
  const goods = fold.goods.map((h) => ({ ...h }));
  const tests = fold.tests.map((h) => ({ ...h }));
  for (const [f, held] of fold.folds.entries()) {
    const heldSet = new Set(held);
    const fitOn = fold.train.map((_, i) => i).filter((i) => !heldSet.has(i));
    const pooled = (i: number): Float64Array => maxPooled(sample(i).features, channels);
    let distance: (image: number, mode: number) => number;
    if (kind === 'shared') {
      const means = Array.from({ length: modes.k }, (_, m) => {
        const members = fitOn.filter((i) => modes.good[i] === m);
        const mu = new Float64Array(channels);
        for (const i of members) pooled(fold.train[i]!).forEach((v, c) => (mu[c] += v / members.length));
        return mu;
      });
      // A [C, 1] "map" whose max-pool is the centred vector.
      const centred = (image: number, m: number): Float32Array => Float32Array.from(pooled(image), (v, c) => v - means[m]![c]!);
      const g = fitGlobal(fitOn.map((i) => centred(fold.train[i]!, modes.good[i]!)), channels);
      distance = (image, m) => globalDistance(g, centred(image, m));
    } else {
      const gs = Array.from({ length: modes.k }, (_, m) => fitGlobal(fitOn.filter((i) => modes.good[i] === m).map((i) => sample(fold.train[i]!).features), channels));
      distance = kind === 'own' ? (image, m) => globalDistance(gs[m]!, sample(image).features) : (image) => Math.min(...gs.map((g) => globalDistance(g, sample(image).features)));
    }
    for (const i of held) goods[i]!.global = distance(fold.train[i]!, modes.good[i]!);
    // Test images were scored round robin by the cross-fit's folds.
    fold.test.forEach((image, j) => {
      if (j % fold.folds.length === f) tests[j]!.global = distance(image, modes.test[j]!);
    });
  }
  return { goods, tests };
}

for (const set of args.sets!.split(',')) {
  const { images, channels, sample, folds } = await load(set);
  const rows = new Map<string, { pooled: number[]; byKind: Map<string, number[]> }>();
  const kinds = [...new Set(images.map((i) => i.kind))].sort();
  const separations: number[] = [];
  for (const fold of folds.values()) {
    const trainSamples = fold.train.map(sample);
    let modes: ModeChoice = chooseModes(trainSamples, channels, DEFAULTS.modes, DEFAULTS.seed);
    if (args['force-modes']) {
      const forced = fitModes(trainSamples.map((s) => s.features), channels, Number(args['force-modes']), DEFAULTS.seed);
      modes = { modes: forced.modes, separation: forced.separation, goodMode: trainSamples.map((s) => modeOf(forced.modes, s.features)) };
    }
    separations.push(modes.separation ?? Number.NaN);
    const testMode = fold.test.map((i) => modeOf(modes.modes, sample(i).features));
    const measure = (name: string, goods: HeldOut[], tests: HeldOut[], goodMode: number[], tMode: number[], k: number, spread = true): void => {
      const full = calibrate({ oof: goods, goodMode, k, head: 'local', topK, far, globalWeight: w });
      const cal = spread ? full : { ...full, exponent: undefined };
      const scores = tests.map((h, j) => partsOf(cal, tMode[j]!, h, topK).score);
      const of = (label: string, kind?: string): number[] => scores.filter((_, j) => images[fold.test[j]!]!.label === label && (kind === undefined || images[fold.test[j]!]!.kind === kind));
      const row = rows.get(name) ?? { pooled: [] as number[], byKind: new Map<string, number[]>() };
      row.pooled.push(auroc(of('good'), of('defect')));
      if (kinds.length > 1) for (const kd of kinds) row.byKind.set(kd, [...(row.byKind.get(kd) ?? []), auroc(of('good', kd), of('defect', kd))]);
      rows.set(name, row);
    };
    const k = modes.modes.k;
    measure('one mode', fold.goods, fold.tests, fold.train.map(() => 0), fold.test.map(() => 0), 1);
    if (k > 1) {
      measure(`${k} texture modes, a percentile per mode (before)`, fold.goods, fold.tests, modes.goodMode, testMode, k, false);
      measure(`${k} texture modes, + the spread exponent (now)`, fold.goods, fold.tests, modes.goodMode, testMode, k);
    }
    if (kinds.length > 1 && kinds.length <= 4) {
      const kindOf = (i: number): number => kinds.indexOf(images[i]!.kind);
      measure('the labelled kinds as modes, a percentile per mode', fold.goods, fold.tests, fold.train.map(kindOf), fold.test.map(kindOf), kinds.length, false);
      measure('the labelled kinds as modes, + the spread exponent', fold.goods, fold.tests, fold.train.map(kindOf), fold.test.map(kindOf), kinds.length);
    }
    if (args.gaussians && k > 1) {
      for (const kind of ['own', 'nearest', 'shared'] as const) {
        const g = gaussianPerMode(fold, sample, channels, { good: modes.goodMode, test: testMode, k }, kind);
        measure(`Gaussian per mode (${kind}), a percentile per mode`, g.goods, g.tests, modes.goodMode, testMode, k, false);
        measure(`Gaussian per mode (${kind}), + the spread exponent`, g.goods, g.tests, modes.goodMode, testMode, k);
      }
    }
  }
  console.log(`\n${set}${args.kind ? ` (${args.kind} only)` : ''}: folds ${[...folds.keys()].join(', ')}; mode separation ${separations.map((s) => s.toFixed(2)).join(', ')}${args['force-modes'] ? ` (${args['force-modes']} modes forced)` : ''}`);
  console.log(`| calibration | AUROC (mean) | per fold |${kinds.length > 1 && kinds.length <= 4 ? ` ${kinds.join(' / ')} |` : ''}`);
  for (const [name, r] of rows) {
    const byKind = kinds.length > 1 && kinds.length <= 4 ? ` ${kinds.map((kd) => mean(r.byKind.get(kd)!).toFixed(3)).join(' / ')} |` : '';
    console.log(`| ${name} | ${mean(r.pooled).toFixed(3)} | ${r.pooled.map((v) => v.toFixed(3)).join(', ')} |${byKind}`);
  }
}
