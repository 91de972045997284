// `visor fit`: backbone features of good images → patch heads (the position-restricted local head,
// head.ts; the global patch bank, patch-bank.ts; or both) plus a Gaussian over max-pooled features
// (global.ts), calibrated per kind of good image on good images held out of the fit (k-fold), and
// optionally refined with labelled images (supervised.ts). Writes one ONNX graph (backbone cut +
// heads) and its model.json. The stages, in order:
//   1. options and inputs        resolveOptions, listImages, backbones, the good images' sizes
//   2. search                    per feature candidate: the geometry (geometry.ts), features of
//                                every tile (+ synthetic defects, through the same geometry),
//                                cross-fit the heads (folds over images), rank the head choices (select.ts)
//   3. calibration               modes and percentiles of the winner's out-of-fold scores (the
//                                combined one over each image's worst tile)
//   4. supervised head           with enough labelled images
//   5. final heads and graph     refitted on all good images, one ONNX graph
//   6. model.json                describe.ts; written beside model.onnx
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { RawImage } from '../../common/types.js';
import { cloneScaling, resolveBackbone, sha256Of, type Backbone, type ResolveBackboneOptions, type ScalingName } from '../backbones/load.js';
import { parseManifest } from '../../inference/package.js';
import type { ModelManifest } from '../../inference/manifest.js';
import { RESIZES, tileCount, type Geometry, type Resize } from '../../common/geometry.js';
import { FitInputError, forEachImage, listImages, type LabelledImage } from './data.js';
import { chooseGeometry, imageSizes, sizesSummary, type GeometryChoice } from './geometry.js';
import { appendBranch, buildFeatureGraph, createFeatureExtractor, FEATURES, PIXELS_PER_CELL, type FeatureExtractor, type FeatureLayout, type FeatureSpec } from './features.js';
import { ANOMALY_SCORE, appendAnomaly, appendMeanAnomaly, HEATMAP, usesBank, usesLocal, type AnomalyCalibration, type AnomalyOutputs, type HeadChoice } from './anomaly.js';
import { calibrate, chooseModes, imageScores, partsOf, type ModeChoice, type Parts } from './calibrate.js';
import { crossFit, fitHeads, rawParts, type CrossFit, type FittedHeads, type HeadPlan, type Sample } from './cross-fit.js';
import { descriptorOf, fitDescriptors, neighboursOf, NORMALISE_CHOICES, type Descriptors, type Neighbourhood, type Normalise } from './neighbours.js';
import { describeModel } from './describe.js';
import { modeOf } from './modes.js';
import { decodeModel, encodeModel, floatValueInfo, graphBuilder, graphOf, opsetOf } from './onnx-graph.js';
import { best, candidateDivisors, FAINT_MARGIN, headCandidates, isAligned, MARGIN, MAX_POSITION_DEPENDENCE, MAX_SYNTHETIC, positionDependence, rankHeads, type FeatureCandidate, type HeadCandidate, type Tried } from './select.js';
import { appendLogistic, fitSupervised, MIN_LABELLED_DEFECTS, SCORE, supervisedRow, type Supervised } from './supervised.js';
import { isFaint, strengthOf, SYNTHETIC_KINDS, synthesizeDefect } from './synthetic.js';
import { auroc, quantile } from './stats.js';
import { DEFAULTS } from './defaults.js';

export { SCORE, MIN_LABELLED_DEFECTS };
export { MIN_PER_MODE } from './calibrate.js';
export const MIN_GOOD = 10;
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
  /** Layers; unset with the default backbone: searched among DEFAULTS.search.layerSets. */
  layers?: readonly string[];
  /** Square input side; unset with the default backbone: searched among DEFAULTS.search.inputSizes. */
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
  /**
   * Partner backbone of unsupervised models (built-in name, folder or .onnx path; 'none' for none):
   * its own anomaly part, averaged with the first's. Default: DEFAULTS.partner with the default
   * backbone, none with any other.
   */
  partnerBackbone?: string;
  /** Patch heads: local (position-restricted), global (patch bank), both; unset: searched. */
  head?: HeadChoice;
  perPosition?: number;
  /** Coreset size of the global patch bank. */
  bankSize?: number;
  /** Image score = mean of the top-k heat values; unset: the search tries TOP_K_CHOICES (select.ts; today only the default). */
  topK?: number;
  /** Parts divided by their mean over the image's most similar good images (neighbours.ts); unset: searched. */
  normalise?: Normalise;
  /** false: no search; whatever is unset takes its default (DEFAULTS). */
  search?: boolean;
  /** Kinds of good image calibrated separately (k-means++ on texture, modes.ts); 1 = one mode. */
  modes?: number;
  /** Weight of the global (Gaussian) part of the anomaly score; 0 = patch heads only. */
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
  /**
   * Real defect images that every candidate of the search also scores (out-of-fold, as the
   * validation defects are) without taking part in the choice: to check the label-free choice
   * against real labels (bench/quality.ts --audit). The result's `audit` lists both AUROCs.
   */
  auditDefects?: readonly string[];
}

/** One search candidate's validation AUROC beside its AUROC on the audit's real defects. */
export interface Audited extends Tried {
  realAuroc: number;
  /** Validation AUROC on each kind of synthetic defect alone. */
  byKind?: Record<string, number>;
  /** Validation AUROC on the fainter and the plainer half of the synthetic defects' strengths. */
  byStrength?: { faint: number; plain: number };
  /** The search's choice. */
  chosen: boolean;
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
  /** With deps.auditDefects: every candidate tried, with its AUROC on the real defects. */
  audit?: Audited[];
}

/** The options with their defaults, checked. */
function resolveOptions(opts: FitOptions) {
  const o = {
    perPosition: opts.perPosition ?? DEFAULTS.perPosition,
    bankSize: opts.bankSize ?? DEFAULTS.bankSize,
    modes: Math.max(1, Math.floor(opts.modes ?? DEFAULTS.modes)),
    folds: opts.folds ?? DEFAULTS.folds,
    far: opts.targetFalseAlarmRate ?? DEFAULTS.targetFalseAlarmRate,
    seed: opts.seed ?? DEFAULTS.seed,
    threads: opts.threads ?? 1,
    globalWeight: opts.globalWeight ?? DEFAULTS.globalWeight,
    search: opts.search ?? true,
  };
  if (!(o.globalWeight >= 0)) throw new FitInputError(`global weight must be ≥ 0, got ${o.globalWeight}`);
  if (!(o.far > 0 && o.far < 0.5)) throw new FitInputError(`target false-alarm rate must be in (0, 0.5), got ${o.far}`);
  if (!(Number.isInteger(o.bankSize) && o.bankSize >= 1)) throw new FitInputError(`bank size must be an integer ≥ 1, got ${o.bankSize}`);
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK >= 1)) throw new FitInputError(`top-k must be an integer ≥ 1, got ${opts.topK}`);
  if (opts.head !== undefined && !['local', 'global', 'both'].includes(opts.head)) throw new FitInputError(`head must be local, global or both, got ${opts.head}`);
  if (opts.normalise !== undefined && !NORMALISE_CHOICES.includes(opts.normalise)) throw new FitInputError(`normalise must be ${NORMALISE_CHOICES.join(', ')}, got ${opts.normalise}`);
  if (opts.resize !== undefined && !(RESIZES as readonly string[]).includes(opts.resize)) throw new FitInputError(`resize must be ${RESIZES.join(', ')}, got ${opts.resize}`);
  return o;
}
type Resolved = ReturnType<typeof resolveOptions>;

/**
 * Features of one feature candidate: the good images, the labelled ones, the synthetic defects.
 * Good and synthetic images are `tiles` consecutive samples each (one per tile of the geometry).
 */
interface Extracted {
  spec: FeatureSpec;
  geometry: GeometryChoice;
  tiles: number;
  layout: FeatureLayout;
  secondLayout?: FeatureLayout;
  projectionDims: number;
  goods: Sample[];
  labelled: (Sample & { label: number })[];
  synthetic: Sample[];
  /** Index in `goods` of the good sample (the same tile of the good image) each synthetic sample was made from. */
  syntheticSource: number[];
  /** The strength each synthetic sample's defect was made at (synthetic.ts). */
  syntheticStrength: number[];
  /** deps.auditDefects' samples (`tiles` per image). */
  audit: Sample[];
  unreadable: string[];
}

/** Everything the search found for one feature candidate. */
interface Evaluated {
  data: Extracted;
  cv: CrossFit;
  modes: ModeChoice;
  neighbours: SampleNeighbours;
  ranked: (HeadCandidate & { auroc: number })[];
}

export async function fitModel(opts: FitOptions, deps: FitDeps): Promise<FitResult> {
  // 1. Options and inputs.
  const t0 = performance.now();
  const log = deps.log.child({ module: 'fit' });
  const progress = deps.progress ?? noProgress;
  const notes: string[] = [];
  const o = resolveOptions(opts);
  const goodFiles = await listImages(opts.goodDir);
  if (goodFiles.length < MIN_GOOD) {
    throw new FitInputError(`only ${goodFiles.length} good image(s) in ${path.resolve(opts.goodDir)}; visor fit needs at least ${MIN_GOOD} (a few hundred is better)`);
  }
  const backbone = await resolveBackbone(opts.backbone ?? DEFAULTS.backbone, deps.backbones);
  const partnerBackbone = await resolvePartner(opts, deps);
  // Geometry (geometry.ts) from the good images' sizes, for a candidate's input size. Tiling is not
  // combined with labelled images yet (a labelled defect is in one tile, its label on the image).
  const goodSizes = await imageSizes(goodFiles);
  const withLabels = (opts.labelled ?? []).length > 0;
  const geometryFor = (inputSize: number): GeometryChoice => chooseGeometry(goodSizes, inputSize, { resize: opts.resize, tiling: opts.tiling !== false && !withLabels });
  if (withLabels && opts.tiling !== false && tileCount(chooseGeometry(goodSizes, featureSpec(backbone, opts).inputSize, { resize: opts.resize }).geometry) > 1) {
    notes.push('one view per image, not tiled: tiling is not combined with labelled images yet');
  }
  // The second backbone serves the supervised head, so it is loaded only with labelled images.
  const secondSpec = (opts.labelled ?? []).length > 0 ? await secondFeatureSpec(opts, deps) : undefined;
  if (opts.secondBackbone !== undefined && opts.secondBackbone !== 'none' && !secondSpec) notes.push(`second backbone ${opts.secondBackbone} not used: it serves the supervised head, and no labelled images were given`);
  const goodSet = new Set(goodFiles);
  const labelOf = new Map((opts.labelled ?? []).map((l) => [path.resolve(l.file), l.label === 'defect' ? 1 : 0]));
  const extraLabelled = [...labelOf.keys()].filter((f) => !goodSet.has(f));
  const labelledDefects = [...labelOf.values()].filter((y) => y === 1).length;
  const labelledGood = labelOf.size - labelledDefects;
  const useLabels = labelledDefects >= MIN_LABELLED_DEFECTS && labelledGood >= MIN_LABELLED_DEFECTS;

  // 2. Search: the candidates, each cross-fitted and ranked on the validation defects.
  const { evaluated, chosen, tried, audit, validation, syntheticCount, searching, positionDependence: dependence } = await searchConfiguration({ opts, o, backbone, secondSpec, goodFiles, extraLabelled, labelOf, useLabels, geometryFor, progress, log, auditDefects: deps.auditDefects ?? [] });
  const { data, cv, modes: modeChoice, neighbours } = evaluated;
  const { spec, layout, secondLayout, goods, labelled, tiles } = data;
  const nImages = goods.length / tiles;
  const imageSummary = sizesSummary(goodSizes, data.geometry, { width: spec.inputSize, height: spec.inputSize });
  if (data.unreadable.length > 0) {
    notes.push(`skipped ${data.unreadable.length} unreadable image(s): ${data.unreadable.slice(0, 3).map((u) => path.basename(u)).join(', ')}${data.unreadable.length > 3 ? ', …' : ''}`);
  }
  if (modeChoice.note) notes.push(modeChoice.note);
  if (searching) {
    notes.push(`chose the ${chosen.head} head${chosen.head === 'both' ? 's' : ''} (top-${chosen.topK}, neighbourhood normalisation: ${chosen.normalise}), layers ${spec.layers.join('+')} at ${spec.inputSize} px on a ${layout.height}×${layout.width} grid by ${validation} (AUROC ${chosen.auroc}; ${tried.length} configurations tried)`);
  }

  // 3. Calibration on the winner's out-of-fold outputs.
  const { modes, goodMode } = modeChoice;
  const goodDiv = candidateDivisors(cv, chosen, neighbours.goods);
  const labelledDiv = candidateDivisors(cv, chosen, neighbours.labelled);
  const cal = calibrate({ oof: cv.goods, goodMode, k: modes.k, head: chosen.head, topK: chosen.topK, far: o.far, globalWeight: o.globalWeight, tiles, divisors: goodDiv });
  const goodParts = cv.goods.map((h, i) => partsOf(cal, goodMode[i]!, h, chosen.topK, goodDiv[i]));
  const labelledParts = labelled.map((l, j) => partsOf(cal, modeOf(modes, l.features), cv.extras[0]![j]!, chosen.topK, labelledDiv[j]));
  const crossValidation: Record<string, number> = {};
  if (syntheticCount > 0) crossValidation.syntheticAuroc = chosen.auroc;

  // 4. Supervised head, with enough labelled images (goods that carry a label join with their
  // out-of-fold parts). With labelled images the geometry is one view, so a good sample is an image.
  const sup: { sample: Sample; parts: Parts; y: number }[] = [
    ...goods.flatMap((g, i) => (labelOf.has(g.file) ? [{ sample: g, parts: goodParts[i]!, y: labelOf.get(g.file)! }] : [])),
    ...labelled.map((l, j) => ({ sample: l as Sample, parts: labelledParts[j]!, y: l.label })),
  ];
  const nDefect = sup.filter((s) => s.y === 1).length;
  let logistic: Supervised | undefined;
  if (sup.length > 0) {
    const unsupervisedAuc = auroc(sup.filter((s) => s.y === 0).map((s) => s.parts.score), sup.filter((s) => s.y === 1).map((s) => s.parts.score));
    if (Number.isFinite(unsupervisedAuc)) crossValidation.anomalyAurocOnLabelled = round3(unsupervisedAuc);
    if (nDefect < MIN_LABELLED_DEFECTS || sup.length - nDefect < MIN_LABELLED_DEFECTS) {
      notes.push(`supervised head not used: needs at least ${MIN_LABELLED_DEFECTS} labelled defect and ${MIN_LABELLED_DEFECTS} labelled good images (got ${nDefect} and ${sup.length - nDefect})`);
    } else {
      const sbar = progress('supervised head', 1);
      logistic = fitSupervised(sup.map((s) => supervisedRow(s.sample, layout, s.parts, secondLayout)), sup.map((s) => s.y), Math.min(o.folds, nImages), o.seed, o.far);
      sbar.tick();
      sbar.stop();
      crossValidation.supervisedAuroc = round3(logistic.auroc);
      crossValidation.supervisedAccuracyAtThreshold = round3(logistic.accuracy);
    }
  }

  // 5. The partner backbone's anomaly part (the score is then the mean of the two), unsupervised only.
  if (logistic && partnerBackbone && opts.partnerBackbone !== undefined) notes.push(`partner backbone ${opts.partnerBackbone} not used: the supervised head gives the score`);
  // By default the partner joins on surfaces only; one the user names joins on any product.
  const aligned = opts.partnerBackbone === undefined && isAligned(dependence);
  if (!logistic && partnerBackbone && aligned) {
    notes.push(`partner backbone ${partnerBackbone.name} not used: aligned parts (position dependence ${dependence} ≥ ${MAX_POSITION_DEPENDENCE}), where it did not help (docs/fit.md); --partner-backbone ${partnerBackbone.name} adds it`);
  }
  const partner = logistic || !partnerBackbone || aligned ? undefined : await fitPartner(partnerBackbone, data, chosen, goodParts.map((p) => p.score), o, goodFiles, progress);
  const goodScores = partner?.goodScores ?? imageScores(goodParts.map((p) => p.score), tiles);

  // 6. Final heads on all good images, and the one graph: backbone cut + feature merge + heads (+ logistic head).
  const final = fitHeads(headPlan(backbone, data, o, chosen.head, chosen.topK), goods);
  const { model } = await buildFeatureGraph(spec, logistic ? secondSpec : undefined);
  const own: AnomalyOutputs = partner ? { score: 'visor.anomaly.own_score', heatmap: 'visor.anomaly.own_heatmap' } : { score: ANOMALY_SCORE, heatmap: HEATMAP };
  appendAnomaly(model, FEATURES, layout, final, final.global, modes, cal, neighbourhoodOf(chosen, cv, neighbours.descriptors), own);
  if (partner) {
    const branch = (await buildFeatureGraph(partner.spec)).model;
    appendAnomaly(branch, FEATURES, partner.layout, partner.heads, partner.heads.global, partner.modes.modes, partner.cal, partner.neighbourhood);
    appendBranch(model, spec, partner.spec, branch, PARTNER);
    appendMeanAnomaly(model, [own, { score: `${PARTNER}/${ANOMALY_SCORE}`, heatmap: `${PARTNER}/${HEATMAP}` }], partner.percentile, layout);
  }
  if (logistic) appendLogistic(model, layout, logistic.model, logistic.threshold, secondLayout);
  else graphBuilder(model, 'visor.out').node('Identity', [ANOMALY_SCORE], SCORE);
  graphOf(model).output = [floatValueInfo(SCORE, [1]), floatValueInfo(HEATMAP, [1, 1, layout.height, layout.width])];
  graphOf(model).name = `visor-${opts.name}`;
  model.producerName = 'visor fit';

  // 7. model.json.
  const onnxBytes = encodeModel(model);
  const manifest = describeModel({
    opts,
    far: o.far,
    seed: o.seed,
    globalWeight: o.globalWeight,
    folds: cv.folds.length,
    backbone,
    spec,
    layout,
    projectionDims: data.projectionDims,
    secondSpec: logistic ? secondSpec : undefined,
    secondLayout,
    heads: final,
    head: chosen,
    cal,
    modes: modeChoice,
    goodScores,
    partner: partner ? { spec: partner.spec, layout: partner.layout, cal: partner.cal, modes: partner.modes.modes.k, percentile: partner.percentile } : undefined,
    goodImages: nImages,
    geometry: data.geometry.geometry,
    imageSummary,
    labelledImages: sup.length,
    labelledDefects: nDefect,
    logistic,
    selection: searching ? { validation, synthetic: syntheticCount, positionDependence: dependence, tried, chosen: { layers: [...spec.layers], inputSize: spec.inputSize, ...(spec.grid !== undefined ? { grid: spec.grid } : {}), ...chosen } } : undefined,
    notes,
    crossValidation,
    sha256: sha256Of(onnxBytes),
  });
  parseManifest(manifest, 'generated model.json'); // a schema slip here is a bug; fail before writing
  const outDir = path.resolve(opts.outDir);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'model.onnx'), onnxBytes);
  await writeFile(path.join(outDir, 'model.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const seconds = secs(t0);
  log.info({ dir: outDir, mb: round3(onnxBytes.length / 1e6), seconds, crossValidation }, 'model written');
  return { dir: outDir, manifest, notes, geometry: data.geometry.geometry, imageSummary, seconds, crossValidation, ...(deps.auditDefects ? { audit } : {}) };
}

interface SearchContext {
  opts: FitOptions;
  o: Resolved;
  backbone: Backbone;
  secondSpec?: FeatureSpec;
  goodFiles: readonly string[];
  extraLabelled: readonly string[];
  labelOf: ReadonlyMap<string, number>;
  useLabels: boolean;
  /** The geometry for a feature candidate's input size. */
  geometryFor: (inputSize: number) => GeometryChoice;
  progress: ProgressFactory;
  log: Logger;
  auditDefects: readonly string[];
}

/**
 * Stage 2: every feature candidate's images are extracted (with synthetic defects when they are
 * the validation set), its heads cross-fitted, and its head candidates ranked (select.ts). Without
 * a search there is one candidate and nothing to rank; its cross-fit is the calibration's input.
 */
async function searchConfiguration(ctx: SearchContext) {
  const { opts, o, backbone, secondSpec, goodFiles, extraLabelled, labelOf, useLabels, geometryFor, progress, log, auditDefects } = ctx;
  const features = featureCandidates(backbone, opts, o);
  const defaults: HeadCandidate = { head: DEFAULTS.head, topK: DEFAULTS.topK, normalise: DEFAULTS.normalise };
  const allHeads = o.search ? headCandidates(opts, defaults) : [{ head: opts.head ?? defaults.head, topK: opts.topK ?? defaults.topK, normalise: opts.normalise ?? defaults.normalise }];
  const searching = features.length > 1 || allHeads.length > 1;
  const validation = !searching ? 'none' : useLabels ? 'labelled defects' : 'synthetic defects';
  const syntheticCount = validation === 'synthetic defects' ? Math.min(MAX_SYNTHETIC, 2 * goodFiles.length) : 0;
  const fitHeadsOf = (hs: readonly HeadCandidate[]): HeadChoice => {
    const set = new Set(hs.map((h) => h.head));
    return set.size === 1 ? [...set][0]! : 'both';
  };
  type Choice = { evaluated: Evaluated; head: HeadCandidate & { auroc: number } };
  let first: Choice | undefined;
  let leader: Choice | undefined;
  const tried: Tried[] = [];
  const audit: Audited[] = [];
  let dependence: number | undefined;
  // Aligned parts (by the default candidate's features) are searched on synthetic defects without
  // the finer grid and neighbourhood normalisation (unless the user asked for it; select.ts):
  // labelled defects can tell for themselves.
  const alignedParts = (): boolean => validation === 'synthetic defects' && isAligned(dependence);
  for (const [ci, candidate] of features.entries()) {
    const geometry = geometryFor(candidate.inputSize);
    const spec = { ...featureSpec(backbone, opts), layers: candidate.layers, inputSize: candidate.inputSize, grid: candidate.grid, geometry: geometry.geometry };
    // A finer grid than the default is tried with the global bank only (DEFAULTS.search.fineGrid).
    const fine = candidate.grid !== undefined && candidate.grid !== opts.grid;
    if (fine && alignedParts()) continue;
    const data = await extractAll(spec, geometry, secondSpec, goodFiles, extraLabelled, labelOf, syntheticCount, auditDefects, o, progress(features.length > 1 ? `features ${ci + 1}/${features.length}` : 'features', goodFiles.length + extraLabelled.length + syntheticCount + auditDefects.length));
    const images = data.goods.length / data.tiles;
    log.info({ good: images, tiles: data.goods.length, synthetic: syntheticCount, geometry: geometry.reason }, 'features extracted');
    if (images < MIN_GOOD) {
      throw new FitInputError(`only ${images} readable good image(s) in ${path.resolve(opts.goodDir)}; visor fit needs at least ${MIN_GOOD}`);
    }
    if (ci === 0) dependence = Math.round(positionDependence(data.goods.map((g) => g.features), data.layout.channels) * 1000) / 1000;
    const heads = (fine ? allHeads.filter((h) => h.head === 'global') : allHeads).filter((h) => opts.normalise !== undefined || !alignedParts() || h.normalise === 'none');
    if (heads.length === 0) continue;
    const plan = headPlan(backbone, data, o, fitHeadsOf(heads), Math.max(...heads.map((h) => h.topK)));
    const bar = progress('cross-fit', o.folds);
    const cv = await crossFit(plan, data.goods, o.folds, data.tiles, [
      { samples: data.labelled },
      { samples: data.synthetic, source: data.syntheticSource },
      { samples: data.audit },
    ], bar.tick);
    bar.stop();
    const modes = chooseModes(data.goods, data.layout.channels, o.modes, o.seed);
    const neighbours = sampleNeighbours(data, heads.some((h) => h.normalise !== 'none'));
    // Validation AUROC of every head candidate on the synthetic defects `keep` selects.
    const rankSynthetic = (keep: (j: number) => boolean) => {
      const of = data.synthetic.flatMap((_, j) => (keep(j) ? [j] : []));
      const lists = { goods: neighbours.goods, defects: of.map((j) => neighbours.synthetic[j]!) };
      return rankHeads(cv, of.map((j) => cv.extras[1]![j]!), of.map((j) => data.synthetic[j]!), modes, lists, heads, o.far, o.globalWeight, data.tiles);
    };
    let ranked: Evaluated['ranked'] = heads.map((h) => ({ ...h, auroc: Number.NaN }));
    if (validation === 'synthetic defects') ranked = rankSynthetic((j) => isFaint(data.syntheticStrength[j]!));
    else if (validation === 'labelled defects') {
      const defects = data.labelled.map((l, j) => ({ l, h: cv.extras[0]![j]!, n: neighbours.labelled[j]! })).filter((x) => x.l.label === 1);
      const goodsAsDefects = data.goods.map((g, i) => ({ g, h: cv.goods[i]!, n: neighbours.goods[i]! })).filter((x) => labelOf.get(x.g.file) === 1);
      const lists = { goods: neighbours.goods, defects: [...defects.map((x) => x.n), ...goodsAsDefects.map((x) => x.n)] };
      ranked = rankHeads(cv, [...defects.map((x) => x.h), ...goodsAsDefects.map((x) => x.h)], [...defects.map((x) => x.l), ...goodsAsDefects.map((x) => x.g)], modes, lists, heads, o.far, o.globalWeight);
    }
    for (const r of ranked) tried.push({ ...candidate, ...r });
    if (data.audit.length > 0) {
      const real = rankHeads(cv, cv.extras[2]!, data.audit, modes, { goods: neighbours.goods, defects: neighbours.audit }, heads, o.far, o.globalWeight, data.tiles);
      const synthetic = validation === 'synthetic defects';
      const byKind = synthetic ? SYNTHETIC_KINDS.map((kind) => rankSynthetic((j) => syntheticKindOf(data.synthetic[j]!.file) === kind)) : [];
      const plain = synthetic ? rankSynthetic((j) => !isFaint(data.syntheticStrength[j]!)) : [];
      real.forEach((r, i) => audit.push({ ...candidate, ...ranked[i]!, realAuroc: r.auroc, chosen: false, ...(synthetic ? { byKind: Object.fromEntries(SYNTHETIC_KINDS.map((k, ki) => [k, byKind[ki]![i]!.auroc])), byStrength: { faint: ranked[i]!.auroc, plain: plain[i]!.auroc } } : {}) }));
    }
    const evaluated = { data, cv, modes, neighbours, ranked };
    const top = ranked.reduce((a, b) => (b.auroc > a.auroc ? b : a));
    log.info({ layers: candidate.layers, inputSize: candidate.inputSize, best: top }, 'candidate evaluated');
    first ??= { evaluated, head: ranked[0]! };
    if (leader === undefined || top.auroc > leader.head.auroc) leader = { evaluated, head: top };
  }
  // The best candidate over every feature candidate if it beats the defaults (the first feature
  // candidate's first head) by the margin, else the defaults.
  const margin = validation === 'synthetic defects' ? FAINT_MARGIN : MARGIN;
  const winner = best([first!, leader!].map((c) => ({ ...c, auroc: c.head.auroc })), margin);
  const won = winner.evaluated.data.spec;
  for (const a of audit) a.chosen = a.head === winner.head.head && a.topK === winner.head.topK && a.normalise === winner.head.normalise && a.inputSize === won.inputSize && a.layers.join() === won.layers.join() && a.grid === won.grid;
  return { evaluated: winner.evaluated, chosen: winner.head, tried, audit, validation, syntheticCount, searching, positionDependence: dependence };
}

/** The feature candidates: what the user fixed, else the default and, with the default backbone, the search's alternatives. */
function featureCandidates(backbone: Backbone, opts: FitOptions, o: Resolved): FeatureCandidate[] {
  const base = featureSpec(backbone, opts);
  const first: FeatureCandidate = { layers: base.layers, inputSize: base.inputSize, ...(opts.grid !== undefined ? { grid: opts.grid } : {}) };
  if (!o.search || backbone.origin !== DEFAULTS.backbone) return [first];
  const layerSets = opts.layers && opts.layers.length > 0 ? [base.layers] : DEFAULTS.search.layerSets;
  const sizes = opts.inputSize !== undefined ? [base.inputSize] : DEFAULTS.search.inputSizes;
  // The finer grid where its cells are still 16 px or more and finer than the default's.
  const fine = DEFAULTS.search.fineGrid;
  const grids = (inputSize: number): (number | undefined)[] =>
    opts.grid === undefined && fine !== undefined && (opts.head === undefined || opts.head === 'global') && fine * 16 <= inputSize && fine > Math.round(inputSize / PIXELS_PER_CELL) ? [undefined, fine] : [opts.grid];
  const all = layerSets.flatMap((layers) => sizes.flatMap((inputSize) => grids(inputSize).map((grid) => ({ layers, inputSize, ...(grid !== undefined ? { grid } : {}) }))));
  const same = (a: FeatureCandidate, b: FeatureCandidate): boolean => a.inputSize === b.inputSize && a.layers.join() === b.layers.join() && a.grid === b.grid;
  return [first, ...all.filter((c) => !same(c, first))];
}

/** The descriptors of the good samples and the neighbours (good samples) of every sample; empty lists when no candidate normalises. */
interface SampleNeighbours {
  descriptors: Descriptors;
  goods: number[][];
  synthetic: number[][];
  labelled: number[][];
  audit: number[][];
}

/**
 * Neighbours among the good samples: a good sample skips its own image's samples (itself and its
 * other tiles), a synthetic defect the good image it was made from, as a new image on the line
 * has neither among the references.
 */
function sampleNeighbours(data: Extracted, needed: boolean): SampleNeighbours {
  const descriptors = fitDescriptors(data.goods.map((g) => g.features), data.layout.channels);
  if (!needed) return { descriptors, goods: data.goods.map(() => []), synthetic: data.synthetic.map(() => []), labelled: data.labelled.map(() => []), audit: data.audit.map(() => []) };
  const imageOf = (i: number): number => Math.floor(i / data.tiles);
  const near = (s: Sample, skipImage: number): number[] => neighboursOf(descriptors, descriptorOf(descriptors, s.features), (r) => imageOf(r) === skipImage);
  return {
    descriptors,
    goods: data.goods.map((g, i) => near(g, imageOf(i))),
    synthetic: data.synthetic.map((s, j) => near(s, imageOf(data.syntheticSource[j]!))),
    labelled: data.labelled.map((l) => near(l, -1)),
    audit: data.audit.map((a) => near(a, -1)),
  };
}

/** The graph's neighbourhood for the chosen candidate: the good samples' descriptors and out-of-fold raw parts. */
function neighbourhoodOf(chosen: HeadCandidate, cv: CrossFit, descriptors: Descriptors): Neighbourhood | undefined {
  if (chosen.normalise === 'none') return undefined;
  const raw = cv.goods.map((h) => rawParts(h, chosen.topK));
  const values = (part: 'local' | 'bank' | 'global'): Float32Array => Float32Array.from(raw, (r) => r[part]!);
  return {
    normalise: chosen.normalise,
    descriptors,
    values: {
      ...(usesLocal(chosen.head) ? { local: values('local') } : {}),
      ...(usesBank(chosen.head) ? { bank: values('bank') } : {}),
      ...(chosen.normalise === 'all' ? { global: values('global') } : {}),
    },
  };
}

function headPlan(backbone: Backbone, data: Extracted, o: Resolved, heads: HeadChoice, topK: number): HeadPlan {
  return { layout: data.layout, projectionDims: data.projectionDims, opset: opsetOf(decodeModel(backbone.onnx, backbone.origin)), heads, perPosition: o.perPosition, bankSize: o.bankSize, topK, seed: o.seed };
}

/**
 * Features of every good image (one sample per tile of the geometry, an image's tiles next to each
 * other), every labelled image that is not one of them (with the second backbone's; one view, as
 * labelled images are never tiled), and `synthetic` synthetic defects made on good images (spread
 * evenly over them; the patch pasted comes from the good image read before). A synthetic defect is
 * made on the whole decoded image, before the geometry, and goes through the same frame and tiles
 * as the real images: the simplest way that keeps it at the scale and place a real defect has.
 */
async function extractAll(spec: FeatureSpec, geometry: GeometryChoice, secondSpec: FeatureSpec | undefined, goodFiles: readonly string[], extraLabelled: readonly string[], labelOf: ReadonlyMap<string, number>, synthetic: number, auditDefects: readonly string[], o: Resolved, bar: Progress): Promise<Extracted> {
  const extractor: FeatureExtractor = await createFeatureExtractor(spec, o.threads, 1, secondSpec);
  const { tiles } = extractor;
  const out: Extracted = { spec, geometry, tiles, layout: extractor.layout, secondLayout: extractor.secondLayout, projectionDims: extractor.projectionDims, goods: [], labelled: [], synthetic: [], syntheticSource: [], syntheticStrength: [], audit: [], unreadable: [] };
  // Synthetic defect j is made on good file sourceFile[j].
  const sourceFile = Array.from({ length: synthetic }, (_, j) => Math.floor((j * goodFiles.length) / synthetic));
  let donor: RawImage | undefined;
  try {
    const r1 = await forEachImage(goodFiles, async ({ file, image }, index) => {
      const first = out.goods.length;
      for (const t of await extractor.extractTiles(image, labelOf.has(file))) out.goods.push({ file, ...t });
      const copy = { ...image, data: Buffer.from(image.data) };
      for (let j = 0; j < synthetic; j++) {
        if (sourceFile[j] !== index) continue;
        const kind = SYNTHETIC_KINDS[j % SYNTHETIC_KINDS.length]!;
        const strength = strengthOf(j);
        const defect = synthesizeDefect(copy, donor ?? copy, kind, o.seed + j, strength);
        for (const [t, features] of (await extractor.extractTiles(defect)).entries()) {
          out.synthetic.push({ file: `${file}#synthetic-${j}-${kind}`, ...features });
          out.syntheticSource.push(first + t);
          out.syntheticStrength.push(strength);
        }
        bar.tick();
      }
      donor = copy;
    }, bar.tick);
    const r2 = await forEachImage(extraLabelled, async ({ file, image }) => {
      out.labelled.push({ file, ...(await extractor.extract(image, true)), label: labelOf.get(file)! });
    }, bar.tick);
    await forEachImage(auditDefects, async ({ file, image }) => {
      for (const t of await extractor.extractTiles(image)) out.audit.push({ file, ...t });
    }, bar.tick);
    for (const r of [r1, r2]) out.unreadable.push(...r.unreadable.map((u) => u.file));
  } finally {
    bar.stop();
    await extractor.close();
  }
  return out;
}

/** Prefix of the partner backbone's tensors in the fitted graph. */
const PARTNER = 'visor.partner';

/** The partner backbone (DEFAULTS.partner with the default backbone), or undefined for none. */
async function resolvePartner(opts: FitOptions, deps: FitDeps): Promise<Backbone | undefined> {
  const name = opts.partnerBackbone ?? ((opts.backbone ?? DEFAULTS.backbone) === DEFAULTS.backbone ? DEFAULTS.partner.backbone : 'none');
  if (name === 'none') return undefined;
  const partner = await resolveBackbone(name, deps.backbones);
  if (partner.defaultLayers.length === 0) throw new FitInputError(`partner backbone ${partner.origin} has no backbone.json listing default layers`);
  return partner;
}

interface PartnerFit {
  spec: FeatureSpec;
  layout: FeatureLayout;
  heads: FittedHeads;
  modes: ModeChoice;
  cal: AnomalyCalibration;
  neighbourhood?: Neighbourhood;
  /** The percentile of the two calibrated scores' mean over out-of-fold good images (the mean is divided by it). */
  percentile: number;
  /** The good images' out-of-fold scores of the mean, divided by the percentile (worst tile per image). */
  goodScores: number[];
}

/**
 * The partner backbone's anomaly part for the chosen head candidate: features of the same good
 * images through the same geometry (its input size and grid are the first backbone's), heads
 * cross-fitted on the same folds and calibrated as the first's, then refitted on every good image.
 * The model's score is the mean of the two calibrated scores divided by that mean's percentile over
 * out-of-fold good images, so 1.0 stays the threshold. `ownScores`: the first backbone's
 * calibrated out-of-fold scores, sample by sample.
 */
async function fitPartner(backbone: Backbone, first: Extracted, chosen: HeadCandidate, ownScores: readonly number[], o: Resolved, goodFiles: readonly string[], progress: ProgressFactory): Promise<PartnerFit> {
  const spec: FeatureSpec = {
    backbone,
    layers: backbone.defaultLayers,
    inputSize: first.spec.inputSize,
    input: backbone.input,
    grid: first.layout.height,
    geometry: first.geometry.geometry,
    opset: opsetOf(decodeModel(first.spec.backbone.onnx, first.spec.backbone.origin)),
  };
  const data = await extractAll(spec, first.geometry, undefined, goodFiles, [], new Map(), 0, [], o, progress('partner features', goodFiles.length));
  if (data.goods.length !== first.goods.length) throw new FitInputError(`the partner backbone ${backbone.origin} read ${data.goods.length / data.tiles} good images where the first read ${first.goods.length / first.tiles}`);
  const plan = headPlan(backbone, data, o, chosen.head, chosen.topK);
  const bar = progress('partner cross-fit', o.folds);
  const cv = await crossFit(plan, data.goods, o.folds, data.tiles, [], bar.tick);
  bar.stop();
  const modes = chooseModes(data.goods, data.layout.channels, o.modes, o.seed);
  const neighbours = sampleNeighbours(data, chosen.normalise !== 'none');
  const div = candidateDivisors(cv, chosen, neighbours.goods);
  const cal = calibrate({ oof: cv.goods, goodMode: modes.goodMode, k: modes.modes.k, head: chosen.head, topK: chosen.topK, far: o.far, globalWeight: o.globalWeight, tiles: data.tiles, divisors: div });
  const mean = cv.goods.map((h, i) => (ownScores[i]! + partsOf(cal, modes.goodMode[i]!, h, chosen.topK, div[i]).score) / 2);
  const percentile = quantile(imageScores(mean, data.tiles), 1 - o.far);
  return {
    spec,
    layout: data.layout,
    heads: fitHeads(plan, data.goods),
    modes,
    cal,
    neighbourhood: neighbourhoodOf(chosen, cv, neighbours.descriptors),
    percentile,
    goodScores: imageScores(mean.map((m) => m / percentile), data.tiles),
  };
}

const syntheticKindOf = (file: string): string => file.slice(file.lastIndexOf('#synthetic-')).replace(/^#synthetic-\d+-/, '');

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

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const secs = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
