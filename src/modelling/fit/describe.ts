// model.json of a fitted model: thresholds with how they were calibrated (in words and figures),
// the geometry, the backbone and heads, the search's choice, and the fit's provenance.
import path from 'node:path';
import { describeGeometry, tileCount, type Geometry } from '../../common/geometry.js';
import type { Backbone } from '../backbones/load.js';
import type { ModelManifest } from '../../inference/manifest.js';
import { HEATMAP, type AnomalyCalibration, type HeadChoice } from './anomaly.js';
import type { ModeChoice } from './calibrate.js';
import type { FittedHeads } from './cross-fit.js';
import { manifestInput, type FeatureLayout, type FeatureSpec } from './features.js';
import { SHRINKAGE } from './global.js';
import { MIN_SEPARATION } from './modes.js';
import { NEIGHBOURS } from './neighbours.js';
import { SUPPORT } from './patch-bank.js';
import type { HeadCandidate, Tried } from './select.js';
import { bandOf, HEAT_RANKS, SCORE, type Supervised } from './supervised.js';

const headKind: Record<HeadChoice, string> = {
  local: 'position-restricted nearest-neighbour head (PatchCore-like)',
  global: 'global patch memory bank (PatchCore)',
  both: 'position-restricted nearest-neighbour head and global patch memory bank (PatchCore), averaged',
};

export interface ModelDescription {
  /** The package's name, version, description and extra provenance as the user gave them (FitOptions). */
  opts: { name: string; version?: string; description?: string; provenance?: Record<string, unknown> };
  far: number;
  seed: number;
  globalWeight: number;
  folds: number;
  backbone: Backbone;
  spec: FeatureSpec;
  layout: FeatureLayout;
  projectionDims: number;
  secondSpec?: FeatureSpec;
  secondLayout?: FeatureLayout;
  /** The partner backbone whose calibrated anomaly score is averaged with the first's (fit.ts, fitPartner). */
  partner?: { spec: FeatureSpec; layout: FeatureLayout; cal: AnomalyCalibration; modes: number; percentile: number };
  heads: FittedHeads;
  head: HeadCandidate;
  cal: AnomalyCalibration;
  modes: ModeChoice;
  /** Calibrated out-of-fold scores of the good images (a tiled image's: its worst tile's). */
  goodScores: readonly number[];
  goodImages: number;
  /** How an image becomes input tiles (chosen from the good images' sizes). */
  geometry: Geometry;
  /** The one-line summary of the good images' sizes and the geometry (sizesSummary). */
  imageSummary: string;
  labelledImages: number;
  labelledDefects: number;
  logistic?: Supervised;
  selection?: { validation: string; synthetic: number; positionDependence?: number; tried: Tried[]; chosen: Record<string, unknown> };
  notes: string[];
  crossValidation: Record<string, number>;
  sha256: string;
}

export function describeModel(m: ModelDescription): ModelManifest {
  const { opts, far, seed, globalWeight, folds, backbone, spec, layout, projectionDims, secondSpec, secondLayout, partner, heads, head, cal, modes: modeChoice, goodScores, goodImages, geometry, imageSummary, labelledImages, labelledDefects, logistic, selection, notes, crossValidation, sha256 } = m;
  const { modes, separation } = modeChoice;
  const tiles = tileCount(geometry);
  const round = (a: Float32Array | undefined): number | number[] | undefined => (a === undefined ? undefined : a.length === 1 ? a[0]! : [...a]);
  const rawThresholds = { local: round(cal.local), bank: round(cal.bank), global: round(cal.global), combined: round(cal.combined), ...(cal.exponent ? { exponent: round(cal.exponent) } : {}) };
  const patchText = head.head === 'both' ? 'the mean of the local and the global patch bank scores, each divided by its percentile' : head.head === 'global' ? 'the global patch bank score' : 'the local nearest-neighbour score';
  const anomalyBand = bandOf([...goodScores], far);
  const modeText =
    modes.k > 1
      ? `per mode: the good images were split into ${modes.k} modes by k-means++ on their texture (per-channel spatial standard deviation, standardised; sizes ${Array.from({ length: modes.k }, (_, k) => modeChoice.goodMode.filter((m) => m === k).length).join(', ')}; separation ${separation} ≥ ${MIN_SEPARATION}); an image is normalised by its nearest mode's percentiles`
      : `one mode for all images${separation !== undefined ? ` (the texture split had separation ${separation} < ${MIN_SEPARATION} or too small a mode)` : ''}`;
  const neighbourText =
    head.normalise === 'none' ? '' : `, first divided by ${head.normalise === 'all' ? 'their' : "the patch part's"} mean over the image's ${NEIGHBOURS} nearest good images by texture (their out-of-fold values),`;
  const anomalyText =
    `the anomaly score adds the patch part (${patchText}) and ${globalWeight} × the global Mahalanobis distance${neighbourText || ','} each divided by the ${nth(1 - far)} percentile of its out-of-fold good values, ` +
    `and divides the sum by the ${nth(1 - far)} percentile of its out-of-fold good values (${modeText})` +
    (cal.exponent ? `, then raises it to the mode's exponent (the mean over modes of ln(${nth(1 - far)} percentile / median) over the mode's own, so every mode's good scores spread alike on a log scale and its percentile stays at 1)` : '') +
    (partner
      ? `; the same for the partner backbone ${partner.spec.backbone.name} (its own heads, Gaussian and ${partner.modes} mode(s), on the same folds), and the model's score is the mean of the two calibrated scores divided by the ${nth(1 - far)} percentile of that mean over out-of-fold good images (${round3(partner.percentile)}); the heat map is the mean of the two`
      : '');
  // Extra calibration fields are allowed by the schema (additionalProperties) but not by its static type.
  const thresholds = (logistic
    ? {
        defect: 1,
        uncertainBand: logistic.band,
        calibration: {
          method:
            `Supervised: logistic regression (L2 λ=${logistic.model.lambda} chosen by inner ${folds}-fold cross-validation) on mean-pooled, max-pooled and texture (spatial std) grid features${secondSpec ? ` of both backbones (the second, ${secondSpec.backbone.name}, reads the same input converted in the graph)` : ''}, the log patch and Gaussian anomaly parts and heat-map statistics (log values at ranks ${HEAT_RANKS.map((r) => r + 1).join(', ')} and the share ≥ 1); ` +
            `threshold = the ${nth(1 - far)} percentile of out-of-fold logits of labelled good images (stratified ${folds}-fold), score = sigmoid(logit) / sigmoid(threshold). ` +
            `Uncertain band = 1 − the ${nth(1 - 2 * far)} percentile of those normalised good scores. The anomaly part: ${anomalyText}; the heat map is the patch heads' distance divided by their percentiles.`,
          targetFalseAlarmRate: far,
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
            `${anomalyText}, so the defect threshold is 1.0 at a ${pct(far)} false-alarm target. ` +
            `Uncertain band = 1 − the ${nth(1 - 2 * far)} percentile of normalised out-of-fold good scores (about as many more good images go to review as false alarms). The shipped head is refitted on all good images.` +
            (tiles > 1 ? ` Each image is ${tiles} tiles, every tile a sample of the heads; the folds go over images, and the combined percentile and the band are taken over each image's worst tile.` : ''),
          targetFalseAlarmRate: far,
          heldOutGood: goodImages,
          heldOutDefect: 0,
          folds,
          rawThresholds,
          modes: modes.k,
          modeSeparation: separation,
        },
      }) as unknown as ModelManifest['thresholds'];

  const manifest: ModelManifest = {
    name: opts.name,
    version: opts.version ?? new Date().toISOString().slice(0, 10).replaceAll('-', '.'),
    task: 'anomaly',
    // The model card text always says what an image costs (a tiled image costs its tiles).
    description:
      `${opts.description ?? `Anomaly model fitted by visor fit on ${goodImages} good images (${backbone.name} features${partner ? ` with ${partner.spec.backbone.name}'s as a partner, the two calibrated scores averaged` : ''}, ${headKind[head.head]} and a Gaussian over max-pooled features${logistic ? ', logistic refinement on labelled images' : ''}). Score >= 1 means defect.`} ` +
      `Geometry: ${describeGeometry(geometry, { width: spec.inputSize, height: spec.inputSize })}${tiles > 1 ? `; an image costs ${tiles} model runs, its score is the worst tile's and the heat map is stitched from the tiles` : ''}.`,
    input: manifestInput(spec),
    geometry,
    outputs: { score: SCORE, heatmap: HEATMAP },
    labels: ['good', 'defect'],
    thresholds,
    provenance: {
      ...opts.provenance,
      fit: {
        goodImages,
        images: imageSummary,
        labelledImages,
        labelledDefects,
        fitDate: new Date().toISOString(),
        tool: 'visor fit',
        seed: seed,
        notes,
        crossValidation,
        ...(logistic ? { lambdaSearch: logistic.aurocs } : {}),
        ...(selection ? { selection } : {}),
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
                ...branchEntry(secondSpec, secondLayout),
              },
            }
          : {}),
        ...(partner
          ? {
              partner: {
                use: "anomaly score: its own patch heads and Gaussian, calibrated; the model's score is the mean of both backbones' calibrated scores",
                ...branchEntry(partner.spec, partner.layout),
                rawThresholds: { local: round(partner.cal.local), bank: round(partner.cal.bank), global: round(partner.cal.global), combined: round(partner.cal.combined) },
                meanPercentile: partner.percentile,
              },
            }
          : {}),
      },
      head: {
        kind: `${headKind[head.head]} + Gaussian over max-pooled features`,
        choice: head.head,
        grid: [layout.height, layout.width],
        ...(heads.local ? { coresetPerPosition: heads.local.shape.perPosition, neighbourhood: '3x3 positions' } : {}),
        ...(heads.bank ? { bankSize: heads.bank.bank.size, bankReweighting: `1 − softmax over the hottest patch's distances to the ${SUPPORT} bank neighbours of its nearest entry` } : {}),
        coresetSelection: `greedy k-centre in a ${projectionDims}-dimensional random projection`,
        modes: modes.k,
        neighbourhoodNormalisation: head.normalise === 'none' ? 'none' : `${head.normalise === 'all' ? 'patch part and Gaussian' : 'patch part'} divided by its mean over the ${NEIGHBOURS} nearest good images (standardised texture descriptor)`,
        modeDescriptor: 'per-channel spatial standard deviation over the grid, standardised; nearest k-means++ centroid',
        global: `Mahalanobis distance of the max-pooled features (${layout.channels} channels), covariance shrunk ${SHRINKAGE} towards a scaled identity, weight ${globalWeight}`,
        storage: 'banks float16, Gaussian float32',
        score: logistic
          ? 'sigmoid(logistic head) / sigmoid(threshold)'
          : `mean of the top ${head.topK} heat-map values${heads.bank ? " (the bank's times its re-weighting)" : ''}`,
        heatmap: "distance to the nearest fitted good patch, divided by the head's percentile for the image's mode (the mean of both heads' with both)",
      },
    },
    sha256,
  };
  return manifest;
}

/** model.json's entry for a backbone joined into the graph (the second or the partner backbone). */
function branchEntry(spec: FeatureSpec, layout: FeatureLayout): Record<string, unknown> {
  return {
    name: spec.backbone.name,
    origin: path.isAbsolute(spec.backbone.origin) ? path.basename(spec.backbone.origin) : spec.backbone.origin,
    sha256: spec.backbone.sha256,
    layers: layout.layers.map((l) => `${l.name} (${l.channels} ch, ${l.height}x${l.width}${l.merge === 'none' ? '' : `, ${l.merge}`})`),
    grid: [layout.height, layout.width],
    inputSize: spec.inputSize,
    ...spec.backbone.provenance,
  };
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const pct = (v: number): string => `${Math.round(v * 1000) / 10}%`;
/** 0.95 → "95th" (percentile ordinal). */
const nth = (v: number): string => `${Math.round(v * 1000) / 10}th`;
