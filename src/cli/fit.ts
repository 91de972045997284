// `visor fit` and `visor eval`.
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../common/log.js';
import { DEFAULTS as FIT_DEFAULTS, SCALINGS, type ScalingName } from '../modelling/fit/defaults.js';
import type { FitOptions, LabelledImage } from '../modelling/fit/index.js';
import { RESIZES, type Resize } from '../common/geometry.js';
import { loadConfig } from '../config/index.js';
import { finiteNumber, integer } from './args.js';
import { UsageError } from './exit.js';
import { cliProgress } from './progress.js';

/** The store folder a config file names (as `visor run` and `visor user` resolve it). */
function storeDataDir(configFile: string): string {
  const { config, baseDir } = loadConfig(configFile);
  return path.resolve(baseDir, config.store.dataDir);
}

// Loaded on use: fitting needs onnx-proto and the rest of the fit code, `visor run` does not.
const fitApi = () => import('../modelling/fit/index.js');

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

interface FitCliOptions {
  good: string;
  out: string;
  labels?: string;
  fromStore?: boolean;
  config?: string;
  name?: string;
  version?: string;
  backbone: string;
  layers?: string[];
  inputSize?: number;
  scaling?: ScalingName;
  falseAlarmRate: number;
  perPosition: number;
  head?: string;
  normalise?: string;
  topK?: number;
  bankSize: number;
  search: boolean;
  grid?: number;
  secondBackbone?: string;
  partnerBackbone?: string;
  secondLayers?: string[];
  secondInputSize?: number;
  modes: number;
  globalWeight: number;
  resize: string;
  tiling: boolean;
  threads: number;
  verbose?: boolean;
}

interface EvalCliOptions {
  model: string;
  data: string;
  out?: string;
  threads: number;
  worst: number;
}

export function registerFitCommands(program: Command): void {
  program
    .command('fit')
    .description('Fit an anomaly model package (model.onnx + model.json) on a folder of good images; prints a JSON summary')
    .requiredOption('-g, --good <dir>', 'folder of good images')
    .requiredOption('-o, --out <dir>', 'output model package folder')
    .option('--labels <csv>', 'labelled images for supervised refinement (columns file,label; label good or defect; paths relative to the CSV)')
    .option('--from-store', 'also use verdicts reviewers gave in the store (needs --config)')
    .option('-c, --config <file>', 'config file whose store --from-store reads')
    .option('--name <name>', 'model name (default: the output folder name)')
    .option('--version <version>', 'model version (default: the date)')
    .option('--backbone <nameOrPath>', 'built-in backbone name, backbone folder, or ONNX file', FIT_DEFAULTS.backbone)
    .option('--layers <l1,l2>', 'feature layers (tensor names in the backbone graph; default: the backbone’s)', list)
    .option('--input-size <n>', 'square input side in pixels (default: the backbone’s)', integer())
    .option('--scaling <kind>', `input scaling: ${Object.keys(SCALINGS).join(', ')} (default: the backbone’s; imagenet for a bare ONNX file)`)
    .option('--false-alarm-rate <r>', 'target false-alarm rate the threshold is calibrated to', finiteNumber, FIT_DEFAULTS.targetFalseAlarmRate)
    .option('--per-position <n>', 'good patches kept per grid position (coreset size)', integer(), FIT_DEFAULTS.perPosition)
    .option('--normalise <which>', 'divide patch scores by those of the most similar good images: none, patch (the patch heads) or all (the Gaussian too) (default: chosen by the search between none and patch)')
    .option('--head <kind>', 'patch heads: local (position-restricted), global (patch bank over all positions) or both (default: chosen by the search)')
    .option('--top-k <k>', `image score = mean of the k hottest heat-map positions (default ${FIT_DEFAULTS.topK})`, integer())
    .option('--bank-size <n>', 'coreset size of the global patch bank', integer(), FIT_DEFAULTS.bankSize)
    .option('--no-search', 'no search: an unset --head is the local head')
    .option('--grid <n>', 'feature grid side (default: input size / 32)', integer())
    .option('--second-backbone <nameOrPath>', `with labels: a second backbone whose pooled features the supervised head also reads, or "none" (default: ${FIT_DEFAULTS.second.backbone} with the default backbone, none otherwise)`)
    .option('--second-layers <l1,l2>', `layers of the second backbone (default: ${FIT_DEFAULTS.second.layers.join(',')} for ${FIT_DEFAULTS.second.backbone}, else the backbone’s)`, list)
    .option('--second-input-size <n>', `input side of the second backbone (default: ${FIT_DEFAULTS.second.inputSize} for ${FIT_DEFAULTS.second.backbone}, else the backbone’s)`, integer())
    .option('--partner-backbone <nameOrPath>', `without labels: a partner backbone with its own anomaly heads, the score the mean of both, or "none" (default: ${FIT_DEFAULTS.partner.backbone} with the default backbone on surfaces that are not aligned, none on aligned parts and otherwise; named, it is used on any product)`)
    .option('--modes <k>', 'kinds of good image calibrated separately (1 = one mode)', integer(), FIT_DEFAULTS.modes)
    .option('--global-weight <w>', 'weight of the global (Gaussian) part of the anomaly score; 0 = nearest neighbour only', finiteNumber, FIT_DEFAULTS.globalWeight)
    .option('--resize <how>', `how images are brought to the model's frame: ${RESIZES.join(', ')} (pad keeps the aspect ratio and every pixel)`, 'pad')
    .option('--no-tiling', 'one view per image, even for strips and large images (default: tiled, see docs/fit.md)')
    .option('--threads <n>', 'onnxruntime threads for feature extraction', integer(), Math.min(4, os.availableParallelism()))
    .option('-v, --verbose', 'log progress details to stderr')
    .action(fitCommand);

  program
    .command('eval')
    .description('Evaluate a model package on a labelled folder (labels.csv: file,label); prints a JSON report')
    .requiredOption('-m, --model <dir>', 'model package folder')
    .requiredOption('-d, --data <dir>', 'folder with labels.csv (file,label; paths relative to it)')
    .option('-o, --out <dir>', 'write scores.csv and heat-map overlays of the worst misses here')
    .option('--worst <n>', 'overlays per kind of miss', integer(), 5)
    .option('--threads <n>', 'onnxruntime intra-op threads (1 measures one core)', integer(), 1)
    .action(evalCommand);
}

async function fitCommand(o: FitCliOptions): Promise<void> {
  const log = createLogger({ level: o.verbose ? 'info' : 'warn', destination: process.stderr });
  const { fitModel, labelledFromReviews, readLabelsCsv } = await fitApi();
  if (o.scaling !== undefined && !(o.scaling in SCALINGS)) throw new UsageError(`--scaling must be one of ${Object.keys(SCALINGS).join(', ')} (got "${o.scaling}")`);
  if (!(RESIZES as readonly string[]).includes(o.resize)) throw new UsageError(`--resize must be one of ${RESIZES.join(', ')} (got "${o.resize}")`);
  if (o.normalise !== undefined && !['none', 'patch', 'all'].includes(o.normalise)) throw new UsageError(`--normalise must be one of none, patch, all (got "${o.normalise}")`);
  if (o.fromStore && !o.config) throw new UsageError('--from-store needs --config FILE (the store of that config is read)');
  const labelled: LabelledImage[] = [];
  if (o.labels) {
    const { images, ignored } = await readLabelsCsv(o.labels);
    labelled.push(...images);
    if (ignored > 0) process.stderr.write(`${o.labels}: ${ignored} row(s) not labelled good/defect ignored\n`);
  }
  if (o.fromStore) {
    const { readReviewedImages } = await import('../store/reviews.js');
    const { images, skipped } = readReviewedImages(storeDataDir(o.config!));
    labelled.push(...labelledFromReviews(images));
    process.stderr.write(`store: ${images.length} reviewed inspection(s) used, ${skipped} skipped (no label or image gone)\n`);
  }
  const name = o.name ?? path.basename(path.resolve(o.out)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  const result = await fitModel(
    {
      goodDir: o.good,
      outDir: o.out,
      name: name || 'model',
      version: o.version,
      labelled,
      backbone: o.backbone,
      layers: o.layers,
      inputSize: o.inputSize,
      scaling: o.scaling,
      targetFalseAlarmRate: o.falseAlarmRate,
      perPosition: o.perPosition,
      head: o.head as FitOptions['head'],
      normalise: o.normalise as FitOptions['normalise'],
      topK: o.topK,
      bankSize: o.bankSize,
      search: o.search,
      grid: o.grid,
      secondBackbone: o.secondBackbone,
      secondLayers: o.secondLayers,
      secondInputSize: o.secondInputSize,
      partnerBackbone: o.partnerBackbone,
      modes: o.modes,
      globalWeight: o.globalWeight,
      resize: o.resize as Resize,
      tiling: o.tiling,
      threads: o.threads,
    },
    { log, progress: cliProgress() },
  );
  process.stderr.write(`images: ${result.imageSummary}\n`);
  for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
  const m = result.manifest;
  const cal = m.thresholds.calibration as unknown as { modes?: number; modeSeparation?: number } | undefined;
  const selection = (m.provenance?.fit as { selection?: { validation: string; tried: unknown[]; chosen: unknown } } | undefined)?.selection;
  process.stdout.write(
    `${JSON.stringify({ dir: result.dir, name: m.name, version: m.version, seconds: result.seconds, thresholds: { defect: m.thresholds.defect, uncertainBand: m.thresholds.uncertainBand }, geometry: result.geometry, modes: cal?.modes, modeSeparation: cal?.modeSeparation, ...(selection ? { selection: { validation: selection.validation, chosen: selection.chosen, tried: selection.tried } } : {}), crossValidation: result.crossValidation, notes: result.notes })}\n`,
  );
}

async function evalCommand(o: EvalCliOptions): Promise<void> {
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const { evaluateModel } = await fitApi();
  const { report } = await evaluateModel({ modelDir: o.model, dataDir: o.data, outDir: o.out, threads: o.threads, worst: o.worst }, { log, progress: cliProgress() });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
