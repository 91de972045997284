// k-fold over the good images: the heads are fitted on k−1 folds and score the held-out fold, so
// every good image gets an out-of-fold score (the calibration's raw material). A tiled image is
// `tiles` consecutive samples, and the folds go over images: the overlapping tiles of a held-out
// image are never in the bank that scores it. Other images
// (labelled ones, synthetic defects) are scored by the fold their `fold` names. Held-out images
// are scored by an onnxruntime session of the very heads the graph will hold, so calibration
// sees what the shipped model computes.
import * as ort from 'onnxruntime-node';
import { usesBank, usesLocal, type HeadChoice, type PatchHeads, type RawParts } from './anomaly.js';
import { FEATURES, sessionOptions, type FeatureLayout } from './features.js';
import { fitGlobal, globalDistance, type GlobalGaussian } from './global.js';
import { appendHead, fitCoresets, LOCAL_HEAT } from './head.js';
import { emptyModel, encodeModel, graphOf, floatValueInfo } from './onnx-graph.js';
import { appendPatchBank, BANK_HEAT, BANK_WEIGHT, fitPatchBank } from './patch-bank.js';
import { UNIT, type Divisors } from './neighbours.js';
import { kFolds } from './stats.js';

export interface Sample {
  file: string;
  /** [C, P] grid features. */
  features: Float32Array;
  /** [d, P] random projection of the same patches (coreset selection). */
  projected: Float32Array;
  /** The second backbone's features (supervised head only). */
  second?: Float32Array;
}

/** What the heads say about one held-out image (raw: before calibration). */
export interface HeldOut {
  localHeat?: Float32Array;
  bankHeat?: Float32Array;
  bankWeight?: number;
  global: number;
}

export interface HeadPlan {
  layout: FeatureLayout;
  projectionDims: number;
  opset: number;
  /** Patch heads to fit (a search fits both and compares). */
  heads: HeadChoice;
  perPosition: number;
  bankSize: number;
  topK: number;
  seed: number;
}

export interface FittedHeads extends PatchHeads {
  global: GlobalGaussian;
}

/** Fits the plan's patch heads and the Gaussian on `train`. */
export function fitHeads(plan: HeadPlan, train: readonly Sample[]): FittedHeads {
  const { layout } = plan;
  const grid = { channels: layout.channels, height: layout.height, width: layout.width, topK: plan.topK };
  const features = train.map((s) => s.features);
  const projected = train.map((s) => s.projected);
  const heads: FittedHeads = { global: fitGlobal(features, layout.channels) };
  if (usesLocal(plan.heads)) {
    const shape = { ...grid, perPosition: Math.min(plan.perPosition, train.length) };
    heads.local = { shape, bank: fitCoresets(shape, features, projected, plan.projectionDims) };
  }
  if (usesBank(plan.heads)) {
    const shape = { ...grid, size: plan.bankSize };
    heads.bank = { shape, bank: fitPatchBank(shape, features, projected, plan.projectionDims, plan.seed) };
  }
  return heads;
}

export interface CrossFit {
  folds: number[][];
  /** Out-of-fold outputs of every good image. */
  goods: HeldOut[];
  /** Per extra set, the outputs of each of its images. */
  extras: HeldOut[][];
}

/**
 * Out-of-fold outputs of the good samples (`tiles` per image, image by image), and of every extra
 * set's samples: sample j of a set with `source` is scored by the fold that holds out good sample
 * source[j] (it was made from it), else by fold j mod k (round robin).
 */
export async function crossFit(plan: HeadPlan, goods: readonly Sample[], folds: number, tiles: number, extras: readonly { samples: readonly Sample[]; source?: readonly number[] }[], tick: () => void = () => undefined): Promise<CrossFit> {
  const images = goods.length / tiles;
  const foldSets = kFolds(images, Math.min(folds, images), plan.seed).map((set) => set.flatMap((i) => Array.from({ length: tiles }, (_, t) => i * tiles + t)));
  const foldOfGood = new Array<number>(goods.length);
  foldSets.forEach((set, f) => set.forEach((i) => (foldOfGood[i] = f)));
  const foldOf = extras.map((e) => e.samples.map((_, j) => (e.source ? foldOfGood[e.source[j]!]! : j % foldSets.length)));
  const out: CrossFit = { folds: foldSets, goods: new Array<HeldOut>(goods.length), extras: extras.map((e) => new Array<HeldOut>(e.samples.length)) };
  for (const [f, heldIdx] of foldSets.entries()) {
    const held = new Set(heldIdx);
    const heads = fitHeads(plan, goods.filter((_, i) => !held.has(i)));
    const scorer = await headScorer(plan, heads);
    try {
      for (const i of heldIdx) out.goods[i] = await scorer.score(goods[i]!);
      for (const [e, set] of extras.entries()) {
        for (const [j, s] of set.samples.entries()) if (foldOf[e]![j] === f) out.extras[e]![j] = await scorer.score(s);
      }
    } finally {
      await scorer.close();
    }
    tick();
  }
  return out;
}

/**
 * The raw parts of a held-out image at top-k `k`, as the graph computes them (the mean of the
 * top-k heat values; the bank's times its weight), each divided by `div`'s (neighbours.ts).
 */
export function rawParts(h: HeldOut, k: number, div: Divisors = UNIT): RawParts {
  return {
    ...(h.localHeat ? { local: topMean(h.localHeat, k) / div.local } : {}),
    ...(h.bankHeat ? { bank: (h.bankWeight! * topMean(h.bankHeat, k)) / div.bank } : {}),
    global: h.global / div.global,
  };
}

export function topMean(heat: Float32Array, k: number): number {
  const top = [...heat].sort((a, b) => b - a).slice(0, Math.min(k, heat.length));
  return top.reduce((a, b) => a + b, 0) / top.length;
}

/** A session of the fitted patch heads alone (input: features), scoring held-out images. */
async function headScorer(plan: HeadPlan, heads: FittedHeads) {
  const { layout } = plan;
  const dims = [1, layout.channels, layout.height, layout.width];
  const model = emptyModel(plan.opset, FEATURES, dims);
  const outputs: string[] = [];
  if (heads.local) {
    appendHead(model, FEATURES, heads.local.shape, heads.local.bank);
    outputs.push(LOCAL_HEAT);
  }
  if (heads.bank) {
    appendPatchBank(model, FEATURES, heads.bank.shape, heads.bank.bank);
    outputs.push(BANK_HEAT, BANK_WEIGHT);
  }
  const positions = layout.height * layout.width;
  graphOf(model).output = outputs.map((o) => floatValueInfo(o, o === BANK_WEIGHT ? [1] : [positions]));
  const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
  return {
    async score(s: Sample): Promise<HeldOut> {
      const r = await session.run({ [FEATURES]: new ort.Tensor('float32', s.features, dims) }, outputs);
      const copy = (name: string): Float32Array => Float32Array.from(r[name]!.data as Float32Array);
      return {
        ...(heads.local ? { localHeat: copy(LOCAL_HEAT) } : {}),
        ...(heads.bank ? { bankHeat: copy(BANK_HEAT), bankWeight: copy(BANK_WEIGHT)[0]! } : {}),
        global: globalDistance(heads.global, s.features),
      };
    },
    close: () => session.release(),
  };
}
