// `visor fit`: backbone features of good images → a local position-restricted nearest-neighbour
// head (head.ts) plus a global Gaussian over max-pooled features (global.ts), each calibrated per
// kind of good image (modes.ts) on good images held out of the fit (k-fold) and combined
// (anomaly.ts); optionally refined with labelled images (a logistic head on pooled features +
// the anomaly parts). Writes one ONNX graph (backbone cut + heads) and its model.json.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelPackageError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { cloneScaling, resolveBackbone, sha256Of, type Backbone, type ResolveBackboneOptions, type ScalingName } from '../backbones/load.js';
import { parseManifest } from '../../inference/package.js';
import type { ModelManifest } from '../../inference/manifest.js';
import { FitInputError, forEachImage, listImages, type LabelledImage } from './data.js';
import { chooseGeometry, imageSizes, sizesSummary, worstTiles } from './geometry.js';
import { describeGeometry, tileCount, type Geometry, type Resize } from '../../common/geometry.js';
import { buildFeatureGraph, createFeatureExtractor, FEATURES, manifestInput, SECOND, sessionOptions, type FeatureLayout, type FeatureSpec } from './features.js';
import { ANOMALY_SCORE, appendAnomaly, combine, GLOBAL_PART, HEAT_PART, HEATMAP, LOCAL_PART, type AnomalyCalibration } from './anomaly.js';
import { fitGlobal, globalDistance, maxPooled, SHRINKAGE } from './global.js';
import { appendHead, fitCoresets, LOCAL_HEAT as RAW_HEAT, LOCAL_SCORE, type HeadShape } from './head.js';
import { appendTexture, fitModes, MIN_SEPARATION, modeOf as modeOfFeatures, ONE_MODE, texture, type Modes } from './modes.js';
import { chooseLambda, crossValidatedLogits, fitLogistic, type LogisticModel } from './logistic.js';
import { decodeModel, emptyModel, encodeModel, floatTensor, floatValueInfo, graphBuilder, graphOf, int64Tensor, opsetOf, type ModelProto } from './onnx-graph.js';
import { auroc, kFolds, mean, quantile } from './stats.js';
import { DEFAULTS } from './defaults.js';

export const SCORE = 'score';
export const MIN_GOOD = 10;
/** Good images a mode needs for its own threshold. */
export const MIN_PER_MODE = 20;
/** Labelled defects needed before the supervised head is used. */
export const MIN_LABELLED_DEFECTS = 8;
export { DEFAULTS };

export interface Progress {
  tick(): void;
  stop(): void;
}
export type ProgressFactory = (label: string, total: number) => Progress;
const noProgress: ProgressFactory = () => ({ tick: () => undefined, stop: () => undefined });

export interface FitOptions {
  /** Folder of good images (the only images the anomaly head learns from). */
  goodDir: string;
  outDir: string;
  name: string;
  version?: string;
  description?: string;
  /** Labelled images for the supervised refinement (CSV and/or the store). */
  labelled?: readonly LabelledImage[];
  /** Built-in backbone name, backbone folder or .onnx path. */
  backbone?: string;
  layers?: readonly string[];
  inputSize?: number;
  scaling?: ScalingName;
  /** Feature grid side (default: input size / 32). */
  grid?: number;
  /**
   * Second backbone read by the supervised head only (built-in name, folder or .onnx path; 'none'
   * for none). Default: DEFAULTS.second with the default backbone, none with any other.
   */
  secondBackbone?: string;
  secondLayers?: readonly string[];
  secondInputSize?: number;
  perPosition?: number;
  topK?: number;
  /** Kinds of good image calibrated separately (k-means++ on texture, modes.ts); 1 = one mode. */
  modes?: number;
  /** Weight of the global (Gaussian) part of the anomaly score; 0 = local nearest neighbour only. */
  globalWeight?: number;
  folds?: number;
  targetFalseAlarmRate?: number;
  seed?: number;
  /** onnxruntime intra-op threads for feature extraction. */
  threads?: number;
  /** Extra provenance for model.json (dataset name, licence, …). */
  provenance?: Record<string, unknown>;
  /** How images are brought to the model's frame (default pad: aspect ratio kept, nothing cut off). */
  resize?: Resize;
  /** false: never tile (one view per image). Default: tile strips and large images (geometry.ts). */
  tiling?: boolean;
}

export interface FitDeps {
  log: Logger;
  progress?: ProgressFactory;
  backbones?: ResolveBackboneOptions;
}

export interface FitResult {
  dir: string;
  manifest: ModelManifest;
  /** Notes for the user (skipped files, supervised head unused …). */
  notes: string[];
  /** The geometry chosen from the good images' sizes (recorded in model.json). */
  geometry: Geometry;
  /** One line: how many sizes, the smallest and largest, and the geometry used. */
  imageSummary: string;
  seconds: number;
  /** Cross-validated figures found while fitting (out-of-fold). */
  crossValidation: Record<string, number>;
}

interface Sample {
  file: string;
  features: Float32Array;
  projected: Float32Array;
  /** The second backbone's features (supervised head only). */
  second?: Float32Array;
}

export async function fitModel(opts: FitOptions, deps: FitDeps): Promise<FitResult> {
  const t0 = performance.now();
  const log = deps.log.child({ module: 'fit' });
  const progress = deps.progress ?? noProgress;
  const notes: string[] = [];
  const o = {
    perPosition: opts.perPosition ?? DEFAULTS.perPosition,
    topK: opts.topK ?? DEFAULTS.topK,
    modes: opts.modes ?? DEFAULTS.modes,
    folds: opts.folds ?? DEFAULTS.folds,
    far: opts.targetFalseAlarmRate ?? DEFAULTS.targetFalseAlarmRate,
    seed: opts.seed ?? DEFAULTS.seed,
    threads: opts.threads ?? 1,
    globalWeight: opts.globalWeight ?? DEFAULTS.globalWeight,
  };
  if (!(o.globalWeight >= 0)) throw new FitInputError(`global weight must be ≥ 0, got ${o.globalWeight}`);
  if (!(o.far > 0 && o.far < 0.5)) throw new FitInputError(`target false-alarm rate must be in (0, 0.5), got ${o.far}`);

  const goodFiles = await listImages(opts.goodDir);
  if (goodFiles.length < MIN_GOOD) {
    throw new FitInputError(`only ${goodFiles.length} good image(s) in ${path.resolve(opts.goodDir)}; visor fit needs at least ${MIN_GOOD} (a few hundred is better)`);
  }
  const backbone = await resolveBackbone(opts.backbone ?? DEFAULTS.backbone, deps.backbones);
  // Geometry (geometry.ts) from the good images' sizes. Tiling is not combined with the
  // supervised head yet (a labelled defect is in one tile, its label on the image).
  const goodSizes = await imageSizes(goodFiles);
  const inputSize = featureSpec(backbone, opts).inputSize;
  const withLabels = (opts.labelled ?? []).length > 0;
  const choice = chooseGeometry(goodSizes, inputSize, { resize: opts.resize, tiling: opts.tiling !== false && !withLabels });
  if (withLabels && opts.tiling !== false && tileCount(chooseGeometry(goodSizes, inputSize, { resize: opts.resize }).geometry) > 1) {
    notes.push('one view per image, not tiled: tiling is not combined with labelled images yet');
  }
  const imageSummary = sizesSummary(goodSizes, choice, { width: inputSize, height: inputSize });
  const spec = { ...featureSpec(backbone, opts), grid: opts.grid, geometry: choice.geometry };
  // The second backbone serves the supervised head, so it is loaded only with labelled images.
  const secondSpec = (opts.labelled ?? []).length > 0 ? await secondFeatureSpec(opts, deps) : undefined;
  if (opts.secondBackbone !== undefined && opts.secondBackbone !== 'none' && !secondSpec) notes.push(`second backbone ${opts.secondBackbone} not used: it serves the supervised head, and no labelled images were given`);
  const extractor = await createFeatureExtractor(spec, o.threads, 1, secondSpec);
  const { layout, secondLayout, projectionDims } = extractor;
  log.info({ backbone: backbone.origin, layers: spec.layers, inputSize: spec.inputSize, grid: [layout.height, layout.width], channels: layout.channels }, 'backbone ready');
  if (secondSpec && secondLayout) log.info({ backbone: secondSpec.backbone.origin, layers: secondSpec.layers, inputSize: secondSpec.inputSize, channels: secondLayout.channels }, 'second backbone ready (supervised head)');

  // Features of every image, once.
  const goods: Sample[] = [];
  const labelled: (Sample & { label: number })[] = [];
  const goodSet = new Set(goodFiles);
  const extraLabelled = (opts.labelled ?? []).filter((l) => !goodSet.has(path.resolve(l.file)));
  const labelOf = new Map((opts.labelled ?? []).map((l) => [path.resolve(l.file), l.label === 'defect' ? 1 : 0]));
  try {
    const bar = progress('features', goodFiles.length + extraLabelled.length);
    const r1 = await forEachImage(goodFiles, async ({ file, image }) => {
      // A tiled image gives one sample per tile, its tiles next to each other (see `tiles` below).
      for (const t of await extractor.extractTiles(image, labelOf.has(file))) goods.push({ file, ...t });
    }, bar.tick);
    const r2 = await forEachImage(extraLabelled.map((l) => path.resolve(l.file)), async ({ file, image }) => {
      labelled.push({ file, ...(await extractor.extract(image, true)), label: labelOf.get(file)! });
    }, bar.tick);
    bar.stop();
    const unreadable = [...r1.unreadable, ...r2.unreadable];
    if (unreadable.length > 0) {
      notes.push(`skipped ${unreadable.length} unreadable image(s): ${unreadable.slice(0, 3).map((u) => path.basename(u.file)).join(', ')}${unreadable.length > 3 ? ', …' : ''}`);
    }
  } finally {
    await extractor.close();
  }
  const tiles = extractor.tiles;
  const nImages = goods.length / tiles;
  if (nImages < MIN_GOOD) {
    throw new FitInputError(`only ${nImages} readable good image(s) in ${path.resolve(opts.goodDir)}; visor fit needs at least ${MIN_GOOD}`);
  }
  // Goods that also carry a label take part in the supervised head with their out-of-fold score.
  const goodLabels = goods.map((g) => labelOf.get(g.file));
  log.info({ good: nImages, tiles: goods.length, labelled: labelled.length + goodLabels.filter((l) => l !== undefined).length, seconds: secs(t0) }, 'features extracted');

  // k-fold over the good images: fit on k−1 folds, score the held-out fold (and, round robin,
  // the labelled images that are not fit images) → out-of-fold raw scores for calibration.
  const shape: HeadShape = { channels: layout.channels, height: layout.height, width: layout.width, perPosition: 0, topK: o.topK };
  // Folds over images, not tiles: overlapping tiles of a held-out image must not be in the bank.
  const folds = Math.min(o.folds, nImages);
  const foldSets = kFolds(nImages, folds, o.seed).map((images) => images.flatMap((i) => Array.from({ length: tiles }, (_, t) => i * tiles + t)));
  const fitSize = goods.length - Math.ceil(goods.length / folds);
  shape.perPosition = Math.min(o.perPosition, fitSize);
  const oofLocal = new Array<number>(goods.length).fill(0);
  const oofGlobal = new Array<number>(goods.length).fill(0);
  const oofHeat = new Array<Float32Array>(goods.length);
  const labelledLocal = new Array<number>(labelled.length).fill(0);
  const labelledGlobal = new Array<number>(labelled.length).fill(0);
  const labelledHeat = new Array<Float32Array>(labelled.length);
  const opset = opsetOf(decodeModel(backbone.onnx, backbone.origin));
  const bar = progress('calibration', folds + 1);
  for (let f = 0; f < folds; f++) {
    const held = new Set(foldSets[f]);
    const train = goods.filter((_, i) => !held.has(i));
    const bank = fitCoresets(shape, train.map((g) => g.features), train.map((g) => g.projected), projectionDims);
    const gauss = fitGlobal(train.map((g) => g.features), layout.channels);
    const scorer = await headScorer(opset, shape, bank);
    try {
      for (const i of held) {
        ({ score: oofLocal[i], heat: oofHeat[i] } = await scorer.score(goods[i]!.features));
        oofGlobal[i] = globalDistance(gauss, goods[i]!.features);
      }
      for (let j = f; j < labelled.length; j += folds) {
        ({ score: labelledLocal[j], heat: labelledHeat[j] } = await scorer.score(labelled[j]!.features));
        labelledGlobal[j] = globalDistance(gauss, labelled[j]!.features);
      }
    } finally {
      await scorer.close();
    }
    bar.tick();
  }
  const finalShape = { ...shape, perPosition: Math.min(o.perPosition, goods.length) };
  const finalBank = fitCoresets(finalShape, goods.map((g) => g.features), goods.map((g) => g.projected), projectionDims);
  const finalGlobal = fitGlobal(goods.map((g) => g.features), layout.channels);
  bar.tick();
  bar.stop();

  // Modes: k-means++ over the good images' textures (modes.ts); each mode gets its own
  // normalisers at the target false-alarm rate. Too small a mode → one mode for all.
  let modes: Modes = ONE_MODE(layout.channels);
  let separation: number | undefined;
  const wanted = Math.max(1, Math.floor(o.modes));
  if (wanted > 1) {
    const fitted = fitModes(goods.map((g) => g.features), layout.channels, wanted, o.seed);
    // The mode as the graph will compute it (float32 descriptors and centroids).
    const assigned = goods.map((g) => modeOfFeatures(fitted.modes, g.features));
    const sizes = Array.from({ length: wanted }, (_, k) => assigned.filter((a) => a === k).length);
    separation = round3(fitted.separation);
    if (Math.min(...sizes) < MIN_PER_MODE) {
      notes.push(`one mode for all images: ${wanted} modes of good images would leave one with ${Math.min(...sizes)} image(s) (< ${MIN_PER_MODE})`);
    } else if (fitted.separation < MIN_SEPARATION) {
      notes.push(`one mode for all images: the good images do not fall into ${wanted} distinct kinds (separation ${separation} < ${MIN_SEPARATION})`);
    } else {
      modes = fitted.modes;
    }
  }
  const goodMode = goods.map((g) => modeOfFeatures(modes, g.features));
  const inMode = (values: readonly number[], k: number): number[] => values.filter((_, i) => goodMode[i] === k);
  const percentile = (values: readonly number[], k: number): number => quantile(inMode(values, k), 1 - o.far);
  const perMode = (values: readonly number[]): Float32Array => Float32Array.from({ length: modes.k }, (_, k) => percentile(values, k));
  const partial: AnomalyCalibration = { local: perMode(oofLocal), global: perMode(oofGlobal), combined: new Float32Array(modes.k).fill(1), globalWeight: o.globalWeight };
  if (![...partial.local, ...partial.global].every((t) => t > 0)) throw new ModelPackageError('calibration failed: held-out good images all score 0 (are the good images identical?)');
  const oofCombined = goods.map((_, i) => combine(partial, goodMode[i]!, oofLocal[i]!, oofGlobal[i]!).combined);
  // The image score is its worst tile's: the combined threshold is a percentile over images.
  const worst = worstTiles(oofCombined, tiles);
  const combinedPerMode = Float32Array.from({ length: modes.k }, (_, k) => {
    const values = worst.filter((i) => goodMode[i] === k).map((i) => oofCombined[i]!);
    return values.length > 0 ? quantile(values, 1 - o.far) : percentile(oofCombined, k);
  });
  const cal: AnomalyCalibration = { ...partial, combined: combinedPerMode };
  const partsOf = (mode: number, local: number, global: number, heat: Float32Array): Parts => {
    const c = combine(cal, mode, local, global);
    return { local: c.local, global: c.global, score: c.combined / cal.combined[mode]!, heat: heat.map((v) => v / cal.local[mode]!) };
  };
  const goodParts = goods.map((_, i) => partsOf(goodMode[i]!, oofLocal[i]!, oofGlobal[i]!, oofHeat[i]!));
  const goodNorm = worstTiles(goodParts.map((p) => p.score), tiles).map((i) => goodParts[i]!.score);
  const labelledParts = labelled.map((l, j) => partsOf(modeOfFeatures(modes, l.features), labelledLocal[j]!, labelledGlobal[j]!, labelledHeat[j]!));
  const round = (a: Float32Array): number | number[] => (a.length === 1 ? a[0]! : [...a]);
  const rawThresholds = { local: round(cal.local), global: round(cal.global), combined: round(cal.combined) };
  const crossValidation: Record<string, number> = {};

  // Supervised refinement.
  let logistic: { model: LogisticModel; threshold: number; band: number; heldOutGood: number; heldOutDefect: number; aurocs: Record<string, number> } | undefined;
  const sup = [
    ...goods.flatMap((g, i) => (goodLabels[i] === undefined ? [] : [{ sample: g, parts: goodParts[i]!, y: goodLabels[i]! }])),
    ...labelled.map((l, j) => ({ sample: l, parts: labelledParts[j]!, y: l.label })),
  ];
  const nDefect = sup.filter((s) => s.y === 1).length;
  const nLabelledGood = sup.length - nDefect;
  if (sup.length > 0) {
    const unsupervisedAuc = auroc(sup.filter((s) => s.y === 0).map((s) => s.parts.score), sup.filter((s) => s.y === 1).map((s) => s.parts.score));
    if (Number.isFinite(unsupervisedAuc)) crossValidation.anomalyAurocOnLabelled = round3(unsupervisedAuc);
  }
  if (sup.length > 0 && (nDefect < MIN_LABELLED_DEFECTS || nLabelledGood < MIN_LABELLED_DEFECTS)) {
    notes.push(`supervised head not used: needs at least ${MIN_LABELLED_DEFECTS} labelled defect and ${MIN_LABELLED_DEFECTS} labelled good images (got ${nDefect} and ${nLabelledGood})`);
  } else if (sup.length > 0) {
    const x = sup.map((s) => supervisedRow(s.sample, layout, s.parts, secondLayout));
    const y = sup.map((s) => s.y);
    const sbar = progress('supervised head', 1);
    const choice = chooseLambda(x, y, folds, o.seed);
    const z = crossValidatedLogits(x, y, choice.lambda, folds, o.seed + 7);
    const zGood = z.filter((_, i) => y[i] === 0);
    const zDefect = z.filter((_, i) => y[i] === 1);
    const threshold = quantile(zGood, 1 - o.far);
    const normalised = (v: number): number => sigmoid(v) / sigmoid(threshold);
    const band = bandOf(zGood.map(normalised), o.far);
    const model = fitLogistic(x, y, choice.lambda);
    sbar.tick();
    sbar.stop();
    crossValidation.supervisedAuroc = round3(auroc(zGood, zDefect));
    crossValidation.supervisedAccuracyAtThreshold = round3((zGood.filter((v) => v < threshold).length + zDefect.filter((v) => v >= threshold).length) / z.length);
    logistic = { model, threshold, band, heldOutGood: zGood.length, heldOutDefect: zDefect.length, aurocs: choice.aurocs };
  }

  // The one graph: backbone cut + feature merge + anomaly head (+ logistic head).
  const { model } = await buildFeatureGraph(spec, logistic ? secondSpec : undefined);
  appendAnomaly(model, FEATURES, finalShape, finalBank, finalGlobal, modes, cal);
  if (logistic) appendLogistic(model, layout, logistic.model, logistic.threshold, secondLayout);
  else graphBuilder(model, 'visor.out').node('Identity', [ANOMALY_SCORE], SCORE);
  graphOf(model).output = [floatValueInfo(SCORE, [1]), floatValueInfo(HEATMAP, [1, 1, layout.height, layout.width])];
  graphOf(model).name = `visor-${opts.name}`;
  model.producerName = 'visor fit';

  const anomalyBand = bandOf(goodNorm, o.far);
  const modeText =
    modes.k > 1
      ? `per mode: the good images were split into ${modes.k} modes by k-means++ on their texture (per-channel spatial standard deviation, standardised; sizes ${Array.from({ length: modes.k }, (_, k) => goodMode.filter((m) => m === k).length).join(', ')}; separation ${separation} ≥ ${MIN_SEPARATION}); an image is normalised by its nearest mode's percentiles`
      : `one mode for all images${separation !== undefined ? ` (the texture split had separation ${separation} < ${MIN_SEPARATION} or too small a mode)` : ''}`;
  const anomalyText =
    `the anomaly score adds the local nearest-neighbour score and ${o.globalWeight} × the global Mahalanobis distance, each divided by the ${nth(1 - o.far)} percentile of its out-of-fold good values, ` +
    `and divides the sum by the ${nth(1 - o.far)} percentile of its out-of-fold good values (${modeText})`;
  // Extra calibration fields are allowed by the schema (additionalProperties) but not by its static type.
  const thresholds = (logistic
    ? {
        defect: 1,
        uncertainBand: logistic.band,
        calibration: {
          method:
            `Supervised: logistic regression (L2 λ=${logistic.model.lambda} chosen by inner ${folds}-fold cross-validation) on mean-pooled, max-pooled and texture (spatial std) grid features${secondSpec ? ` of both backbones (the second, ${secondSpec.backbone.name}, reads the same input converted in the graph)` : ''}, the log local and global anomaly parts and heat-map statistics (log values at ranks ${HEAT_RANKS.map((r) => r + 1).join(', ')} and the share ≥ 1); ` +
            `threshold = the ${nth(1 - o.far)} percentile of out-of-fold logits of labelled good images (stratified ${folds}-fold), score = sigmoid(logit) / sigmoid(threshold). ` +
            `Uncertain band = 1 − the ${nth(1 - 2 * o.far)} percentile of those normalised good scores. The anomaly part: ${anomalyText}; the heat map is the local distance divided by the local percentile.`,
          targetFalseAlarmRate: o.far,
          heldOutGood: logistic.heldOutGood,
          heldOutDefect: logistic.heldOutDefect,
          folds,
          logitThreshold: logistic.threshold,
          anomalyRawThresholds: rawThresholds,
          modes: modes.k,
          modeSeparation: separation,
        },
      }
    : {
        defect: 1,
        uncertainBand: anomalyBand,
        calibration: {
          method:
            `Unsupervised, ${folds}-fold over the good images: each fold's anomaly head was fitted on the other folds and scored the held-out fold; ` +
            `${anomalyText}, so the defect threshold is 1.0 at a ${pct(o.far)} false-alarm target. ` +
            `Uncertain band = 1 − the ${nth(1 - 2 * o.far)} percentile of normalised out-of-fold good scores (about as many more good images go to review as false alarms). The shipped head is refitted on all good images.`,
          targetFalseAlarmRate: o.far,
          heldOutGood: nImages,
          heldOutDefect: 0,
          folds,
          rawThresholds,
          modes: modes.k,
          modeSeparation: separation,
        },
      }) as unknown as ModelManifest['thresholds'];

  const onnxBytes = encodeModel(model);
  const manifest: ModelManifest = {
    name: opts.name,
    version: opts.version ?? new Date().toISOString().slice(0, 10).replaceAll('-', '.'),
    task: 'anomaly',
    // The model card text always says what an image costs (a tiled image costs its tiles).
    description:
      `${opts.description ?? `Anomaly model fitted by visor fit on ${nImages} good images (${backbone.name} features, position-restricted nearest-neighbour head and a Gaussian over max-pooled features${logistic ? ', logistic refinement on labelled images' : ''}). Score >= 1 means defect.`} ` +
      `Geometry: ${describeGeometry(choice.geometry, { width: inputSize, height: inputSize })}${tiles > 1 ? `; an image costs ${tiles} model runs, its score is the worst tile's and the heat map is stitched from the tiles` : ''}.`,
    input: manifestInput(spec),
    geometry: choice.geometry,
    outputs: { score: SCORE, heatmap: HEATMAP },
    labels: ['good', 'defect'],
    thresholds,
    provenance: {
      ...opts.provenance,
      fit: {
        goodImages: nImages,
        images: imageSummary,
        labelledImages: sup.length,
        labelledDefects: nDefect,
        fitDate: new Date().toISOString(),
        tool: 'visor fit',
        seed: o.seed,
        notes,
        crossValidation,
        ...(logistic ? { lambdaSearch: logistic.aurocs } : {}),
      },
      backbone: {
        name: backbone.name,
        origin: path.isAbsolute(backbone.origin) ? path.basename(backbone.origin) : backbone.origin,
        sha256: backbone.sha256,
        layers: layout.layers.map((l) => `${l.name} (${l.channels} ch, ${l.height}x${l.width}${l.merge === 'none' ? '' : `, ${l.merge}`})`),
        inputSize: spec.inputSize,
        ...backbone.provenance,
        ...(logistic && secondSpec && secondLayout
          ? {
              second: {
                use: 'supervised head only: its mean-, max-pooled and texture features join the logistic row',
                name: secondSpec.backbone.name,
                origin: path.isAbsolute(secondSpec.backbone.origin) ? path.basename(secondSpec.backbone.origin) : secondSpec.backbone.origin,
                sha256: secondSpec.backbone.sha256,
                layers: secondLayout.layers.map((l) => `${l.name} (${l.channels} ch, ${l.height}x${l.width}${l.merge === 'none' ? '' : `, ${l.merge}`})`),
                grid: [secondLayout.height, secondLayout.width],
                inputSize: secondSpec.inputSize,
                ...secondSpec.backbone.provenance,
              },
            }
          : {}),
      },
      head: {
        kind: 'position-restricted nearest neighbour (PatchCore-like) + Gaussian over max-pooled features',
        grid: [layout.height, layout.width],
        coresetPerPosition: finalShape.perPosition,
        coresetSelection: `greedy k-centre in a ${projectionDims}-dimensional random projection`,
        neighbourhood: '3x3 positions',
        modes: modes.k,
        modeDescriptor: 'per-channel spatial standard deviation over the grid, standardised; nearest k-means++ centroid',
        global: `Mahalanobis distance of the max-pooled features (${layout.channels} channels), covariance shrunk ${SHRINKAGE} towards a scaled identity, weight ${o.globalWeight}`,
        storage: 'bank float16, Gaussian float32',
        score: logistic ? 'sigmoid(logistic head) / sigmoid(threshold)' : `mean of the top ${o.topK} heat-map values`,
        heatmap: "distance to the nearest fitted good patch, divided by the local percentile of the image's mode",
      },
    },
    sha256: sha256Of(onnxBytes),
  };
  parseManifest(manifest, 'generated model.json'); // a schema slip here is a bug; fail before writing
  const outDir = path.resolve(opts.outDir);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'model.onnx'), onnxBytes);
  await writeFile(path.join(outDir, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const seconds = secs(t0);
  log.info({ dir: outDir, mb: round3(onnxBytes.length / 1e6), seconds, crossValidation }, 'model written');
  return { dir: outDir, manifest, notes, geometry: choice.geometry, imageSummary, seconds, crossValidation };
}

function featureSpec(backbone: Backbone, opts: FitOptions): FeatureSpec {
  // The default backbone by name gets the layers the cross-validation chose (defaults.ts).
  const fallback = backbone.origin === DEFAULTS.backbone ? [...DEFAULTS.layers] : backbone.defaultLayers;
  const layers = opts.layers && opts.layers.length > 0 ? [...opts.layers] : fallback;
  if (layers.length === 0) throw new FitInputError(`backbone ${backbone.origin} has no backbone.json listing default layers: give --layers L1,L2 (names of tensors in the graph)`);
  const inputSize = opts.inputSize ?? backbone.input.size;
  if (!Number.isInteger(inputSize) || inputSize < 16) throw new FitInputError(`input size must be an integer ≥ 16, got ${inputSize}`);
  const planes = backbone.input.channels === 'GRAY' ? 1 : 3;
  const input = opts.scaling ? { ...backbone.input, ...cloneScaling(opts.scaling, planes) } : backbone.input;
  return { backbone, layers, inputSize, input };
}

/** The second backbone's spec (DEFAULTS.second with the default backbone), or undefined for none. */
async function secondFeatureSpec(opts: FitOptions, deps: FitDeps): Promise<FeatureSpec | undefined> {
  const name = opts.secondBackbone ?? ((opts.backbone ?? DEFAULTS.backbone) === DEFAULTS.backbone ? DEFAULTS.second.backbone : 'none');
  if (name === 'none') return undefined;
  const backbone = await resolveBackbone(name, deps.backbones);
  const builtinDefault = opts.secondBackbone === undefined || opts.secondBackbone === DEFAULTS.second.backbone;
  const layers = opts.secondLayers && opts.secondLayers.length > 0 ? [...opts.secondLayers] : builtinDefault ? [...DEFAULTS.second.layers] : backbone.defaultLayers;
  if (layers.length === 0) throw new FitInputError(`second backbone ${backbone.origin} has no backbone.json listing default layers: give --second-layers L1,L2`);
  const inputSize = opts.secondInputSize ?? (builtinDefault ? DEFAULTS.second.inputSize : backbone.input.size);
  if (!Number.isInteger(inputSize) || inputSize < 16) throw new FitInputError(`second input size must be an integer ≥ 16, got ${inputSize}`);
  const planes = backbone.input.channels === 'GRAY' ? 1 : 3;
  const input = builtinDefault ? { ...backbone.input, ...cloneScaling(DEFAULTS.second.scaling, planes) } : backbone.input;
  return { backbone, layers, inputSize, input };
}

/** A session with just the local head (input: features) for scoring held-out images during calibration. */
async function headScorer(opset: number, shape: HeadShape, bank: Float32Array) {
  const model = emptyModel(opset, FEATURES, [1, shape.channels, shape.height, shape.width]);
  appendHead(model, FEATURES, shape, bank);
  const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
  return {
    /** The raw local score and heat. */
    async score(features: Float32Array): Promise<{ score: number; heat: Float32Array }> {
      const out = await session.run({ [FEATURES]: new ort.Tensor('float32', features, [1, shape.channels, shape.height, shape.width]) }, [LOCAL_SCORE, RAW_HEAT]);
      return { score: (out[LOCAL_SCORE]!.data as Float32Array)[0]!, heat: Float32Array.from(out[RAW_HEAT]!.data as Float32Array) };
    },
    close: () => session.release(),
  };
}

interface Parts {
  /** Normalised local and global parts and the calibrated anomaly score. */
  local: number;
  global: number;
  score: number;
  /** Normalised local heat [P]. */
  heat: Float32Array;
}

/** Heat-map ranks (0 = hottest) the supervised head reads, as logs; plus the share of positions at or above 1. */
const HEAT_RANKS = [0, 1, 3, 7] as const;

function heatStats(heat: Float32Array): number[] {
  const sorted = [...heat].sort((a, b) => b - a);
  return [...HEAT_RANKS.map((r) => Math.log(Math.max(sorted[Math.min(r, sorted.length - 1)]!, LOG_EPS))), heat.filter((v) => v >= 1).length / heat.length];
}

/**
 * [mean over the grid per channel, max per channel, spatial std per channel (the same three of
 * the second backbone, when there is one), log local part, log global part, heat statistics].
 * The heat statistics added about 0.006 AUROC on every ELPV fold tried. (Per-channel maxima at
 * each layer's own resolution instead of the grid were tried: no better.)
 */
export function supervisedRow(sample: Pick<Sample, 'features' | 'second'>, layout: FeatureLayout, parts: Pick<Parts, 'local' | 'global' | 'heat'>, secondLayout?: FeatureLayout): Float64Array {
  const pooled = [pooledStats(sample.features, layout.channels)];
  if (secondLayout) {
    if (!sample.second) throw new Error('supervisedRow: sample has no second-backbone features');
    pooled.push(pooledStats(sample.second, secondLayout.channels));
  }
  const tail = [Math.log(Math.max(parts.local, LOG_EPS)), Math.log(Math.max(parts.global, LOG_EPS)), ...heatStats(parts.heat)];
  const row = new Float64Array(pooled.reduce((n, p) => n + p.length, 0) + tail.length);
  let at = 0;
  for (const p of [...pooled, tail]) {
    row.set(p, at);
    at += p.length;
  }
  return row;
}

/** [mean, max, spatial std] per channel of [C, P] features. */
function pooledStats(features: Float32Array, c: number): Float64Array {
  const p = features.length / c;
  const out = new Float64Array(3 * c);
  for (let j = 0; j < c; j++) out[j] = mean(features.subarray(j * p, (j + 1) * p));
  out.set(maxPooled(features, c), c);
  out.set(texture(features, c), 2 * c);
  return out;
}
const LOG_EPS = 1e-6;

/** score = sigmoid(w·supervisedRow + b) / sigmoid(threshold), in the graph. */
function appendLogistic(model: ModelProto, layout: FeatureLayout, m: LogisticModel, threshold: number, secondLayout?: FeatureLayout): void {
  const b = graphBuilder(model, 'visor.logistic');
  const positions = layout.height * layout.width;
  const flat = (name: string, c: number): string => b.init(int64Tensor(`visor.logistic.shape_${name}`, [1, c]));
  // Mean, max and texture of a feature tensor, each [1, C] (pooledStats in the graph).
  const pooled = (tensor: string, c: number, tag: string): string[] => [
    b.node('Reshape', [b.node('GlobalAveragePool', [tensor], `visor.logistic.${tag}gap`), flat(`${tag}c`, c)], `visor.logistic.${tag}gap_flat`),
    b.node('Reshape', [b.node('GlobalMaxPool', [tensor], `visor.logistic.${tag}gmp`), flat(`${tag}c2`, c)], `visor.logistic.${tag}gmp_flat`),
    appendTexture(b, tensor, c, `visor.logistic${tag ? `.${tag.slice(0, -1)}` : ''}`),
  ];
  const stats = [...pooled(FEATURES, layout.channels, ''), ...(secondLayout ? pooled(SECOND, secondLayout.channels, 'second_') : [])];
  const eps = b.init(floatTensor('visor.logistic.eps', [1], new Float32Array([LOG_EPS])));
  const logOf = (part: string, name: string): string =>
    b.node('Reshape', [b.node('Log', [b.node('Max', [part, eps], `visor.logistic.${name}_pos`)], `visor.logistic.log_${name}`), flat(`one_${name}`, 1)], `visor.logistic.log_${name}_flat`);
  // Heat statistics: the values at HEAT_RANKS of the sorted heat (logs), and the share ≥ 1.
  const heatRow = b.node('Reshape', [HEAT_PART, b.init(int64Tensor('visor.logistic.shape_heat', [1, positions]))], 'visor.logistic.heat_row');
  const k = Math.min(HEAT_RANKS[HEAT_RANKS.length - 1]! + 1, positions);
  const [top] = b.nodeMulti('TopK', [heatRow, b.init(int64Tensor('visor.logistic.heat_k', [k]))], ['visor.logistic.heat_top', 'visor.logistic.heat_top_idx'], { axis: -1 });
  const ranks = b.init(int64Tensor('visor.logistic.heat_ranks', HEAT_RANKS.map((r) => Math.min(r, k - 1))));
  const picked = b.node('Gather', [top!, ranks], 'visor.logistic.heat_picked', { axis: 1 }); // [1, ranks]
  const logHeat = b.node('Log', [b.node('Max', [picked, eps], 'visor.logistic.heat_pos')], 'visor.logistic.log_heat');
  const one = b.init(floatTensor('visor.logistic.one', [1], new Float32Array([1])));
  const hot = b.node('Cast', [b.node('Not', [b.node('Less', [heatRow, one], 'visor.logistic.cool')], 'visor.logistic.hot_bool')], 'visor.logistic.hot', { to: 1 });
  const share = b.reduce('ReduceMean', hot, [1], 1, 'visor.logistic.hot_share'); // [1, 1]
  const row = b.node('Concat', [...stats, logOf(LOCAL_PART, 'local'), logOf(GLOBAL_PART, 'global'), logHeat, share], 'visor.logistic.row', { axis: 1 }); // [1, d]
  const w = b.init(floatTensor('visor.logistic.w', [m.w.length, 1], Float32Array.from(m.w)));
  const bias = b.init(floatTensor('visor.logistic.b', [1], new Float32Array([m.b])));
  const z = b.node('Add', [b.node('MatMul', [row, w], 'visor.logistic.wx'), bias], 'visor.logistic.logit'); // [1,1]
  const p = b.node('Sigmoid', [z], 'visor.logistic.p');
  const scale = b.init(floatTensor('visor.logistic.scale', [1], new Float32Array([1 / sigmoid(threshold)])));
  const s = b.node('Mul', [p, scale], 'visor.logistic.score_2d');
  b.node('Reshape', [s, b.init(int64Tensor('visor.logistic.shape_score', [1]))], SCORE);
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
/** Uncertain band: 1 − the (1 − 2·far) quantile of normalised good scores, rounded up to 0.01, at least 0.01. */
function bandOf(goodNormalised: number[], far: number): number {
  const lower = quantile(goodNormalised, 1 - 2 * far);
  return Math.max(0.01, Math.ceil((1 - lower) * 100) / 100);
}
const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const secs = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
const pct = (v: number): string => `${Math.round(v * 1000) / 10}%`;
/** 0.95 → "95th" (percentile ordinal). */
const nth = (v: number): string => `${Math.round(v * 1000) / 10}th`;
