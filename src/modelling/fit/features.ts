// The feature part of a fitted model: the backbone cut at the chosen layers, every layer brought
// to one grid (average-pooled, or resized when the sizes do not divide) and concatenated into
// one tensor `visor.features` [1, C, H, W]. The grid is coarse on purpose (default one cell per
// 32 input pixels): parts on a line are aligned only roughly, and on ELPV cells an 8×8 grid beat
// 16×16 for every backbone tried (docs/fit.md). The same graph extracts features
// during the fit and is the first half of the shipped model.onnx.
import * as ort from 'onnxruntime-node';
import { ModelPackageError, errorMessage } from '../../common/errors.js';
import type { RawImage } from '../../common/types.js';
import type { Geometry } from '../../common/geometry.js';
import type { Backbone, BackboneInput } from '../backbones/load.js';
import type { ModelManifest } from '../../inference/manifest.js';
import { createPreprocessor } from '../../inference/preprocess.js';
import { decodeModel, encodeModel, floatTensor, floatValueInfo, FLOAT, graphBuilder, graphOf, int64Tensor, liftOpset, mergeGraph, opsetOf, pruneToOutputs, type GraphBuilder, type ModelProto } from './onnx-graph.js';

export const FEATURES = 'visor.features';
/** The reductions and Resize the head writes need opset 11 or newer. */
export const MIN_OPSET = 11;

export interface LayerShape {
  name: string;
  channels: number;
  height: number;
  width: number;
  /** How it reaches the grid: as is, average-pooled by an integer factor, or resized. */
  merge: 'none' | `pool${number}` | 'resize';
}

export interface FeatureLayout {
  channels: number;
  height: number;
  width: number;
  layers: LayerShape[];
}

export interface FeatureSpec {
  backbone: Backbone;
  layers: readonly string[];
  /** Square input side in pixels. */
  inputSize: number;
  /** Input name, channels and scaling (the backbone's, possibly with another scaling). */
  input: BackboneInput;
  /** Grid side the layers are brought to (default: input size / 32, at most the finest layer's). */
  grid?: number;
  /** How an image becomes input tiles (default: stretched to the input, one tile). */
  geometry?: Geometry;
  /** ONNX opset the cut backbone is declared at (liftOpset), to join a graph of that opset; default its own. */
  opset?: number;
}

export const PIXELS_PER_CELL = 32;

/** The model.json `input` for a feature spec (the fitted model feeds the backbone directly). */
export function manifestInput(spec: FeatureSpec): ModelManifest['input'] {
  const { name, channels, scale, mean, std } = spec.input;
  return { name, width: spec.inputSize, height: spec.inputSize, layout: 'NCHW', channels, scale, mean: [...mean], std: [...std] };
}

export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 };
}

/** Backbone pruned to `layers`, with a fixed [1, planes, size, size] input; outputs = the layers. */
function cutBackbone(spec: FeatureSpec): ModelProto {
  const model = decodeModel(spec.backbone.onnx, spec.backbone.origin);
  const opset = opsetOf(model);
  if (opset < MIN_OPSET) {
    throw new ModelPackageError(`backbone ${spec.backbone.origin} uses ONNX opset ${opset}; visor fit needs opset ${MIN_OPSET} or newer (re-export it with a newer opset)`);
  }
  try {
    pruneToOutputs(model, spec.layers);
  } catch (err) {
    throw new ModelPackageError(`backbone ${spec.backbone.origin}: ${errorMessage(err)}`, { cause: err });
  }
  if (spec.opset !== undefined) liftOpset(model, spec.opset, `backbone ${spec.backbone.origin} cut at ${spec.layers.join(', ')}`);
  const graph = graphOf(model);
  const planes = spec.input.channels === 'GRAY' ? 1 : 3;
  graph.input = [floatValueInfo(spec.input.name, [1, planes, spec.inputSize, spec.inputSize])];
  graph.output = spec.layers.map((name) => ({ name, type: { tensorType: { elemType: FLOAT } } }));
  // Initializers no longer listed as inputs need IR 4 or newer.
  if (Number(model.irVersion ?? 0) < 4) model.irVersion = 4;
  return model;
}

/** Runs the cut backbone once on zeros to learn every layer's real shape. */
async function measureLayers(spec: FeatureSpec): Promise<LayerShape[]> {
  const bytes = encodeModel(cutBackbone(spec));
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(1));
  } catch (err) {
    throw new ModelPackageError(`backbone ${spec.backbone.origin} cut at ${spec.layers.join(', ')} could not be loaded by onnxruntime: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
  try {
    const planes = spec.input.channels === 'GRAY' ? 1 : 3;
    const x = new ort.Tensor('float32', new Float32Array(planes * spec.inputSize * spec.inputSize), [1, planes, spec.inputSize, spec.inputSize]);
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await session.run({ [spec.input.name]: x });
    } catch (err) {
      throw new ModelPackageError(`backbone ${spec.backbone.origin} failed at input size ${spec.inputSize}: ${errorMessage(err).split('\n')[0]}`, { cause: err });
    }
    return spec.layers.map((name) => {
      const dims = out[name]!.dims;
      if (dims.length !== 4 || dims[0] !== 1) {
        throw new ModelPackageError(`backbone layer "${name}" has shape [${dims.join(',')}]; a feature map must be [1, C, H, W] (NCHW)`);
      }
      return { name, channels: dims[1]!, height: dims[2]!, width: dims[3]!, merge: 'none' as const };
    });
  } finally {
    await session.release();
  }
}

/**
 * Returns the backbone + merge graph with output `visor.features` [1, C, grid, grid]. Layers are
 * average-pooled when their size is a multiple of the grid, else resized (bilinear).
 *
 * With `second`, a second backbone joins the same graph as output `visor.second` (its own layers
 * on its own grid): it reads the first backbone's input tensor, converted in the graph to its
 * own scaling, channel order and size, so one preprocessed image feeds both and the fitted
 * model keeps one input.
 */
export async function buildFeatureGraph(spec: FeatureSpec, second?: FeatureSpec): Promise<{ model: ModelProto; layout: FeatureLayout; secondLayout?: FeatureLayout }> {
  const { model, layout } = await buildOne(spec, FEATURES);
  if (second === undefined) return { model, layout };
  return { model, layout, secondLayout: await appendSecondBranch(model, spec, second) };
}

/** Adds the second backbone to a graph whose input is `primary`'s; output SECOND. */
async function appendSecondBranch(model: ModelProto, primary: FeatureSpec, second: FeatureSpec): Promise<FeatureLayout> {
  const branch = await buildOne(second, SECOND);
  appendBranch(model, primary, second, branch.model, 'visor.second', [SECOND]);
  graphOf(model).output.push(floatValueInfo(SECOND, [1, branch.layout.channels, branch.layout.height, branch.layout.width]));
  return branch.layout;
}

/**
 * Joins `branch`, a graph whose input is `to`'s, into `model`, whose input is `from`'s: the branch
 * reads `from`'s input tensor converted to `to`'s scaling, channel order and size (so one
 * preprocessed image feeds both), and its tensors are renamed `${prefix}/…` except those in `keep`.
 */
export function appendBranch(model: ModelProto, from: FeatureSpec, to: FeatureSpec, branch: ModelProto, prefix: string, keep: readonly string[] = []): void {
  const converted = appendInputConversion(model, from, to, `${prefix}.input`);
  mergeGraph(model, branch, prefix, new Map([[to.input.name, converted], ...keep.map((k) => [k, k] as const)]));
}

/** Output of the second backbone's feature graph (see buildFeatureGraph). */
export const SECOND = 'visor.second';

async function buildOne(spec: FeatureSpec, output: string): Promise<{ model: ModelProto; layout: FeatureLayout }> {
  if (spec.layers.length === 0) throw new ModelPackageError(`no layers chosen for backbone ${spec.backbone.origin} (give --layers)`);
  const shapes = await measureLayers(spec);
  const finest = shapes.reduce((a, b) => (b.height * b.width > a.height * a.width ? b : a));
  const side = spec.grid ?? Math.max(1, Math.round(spec.inputSize / PIXELS_PER_CELL));
  if (!Number.isInteger(side) || side < 1 || side > finest.height) {
    throw new ModelPackageError(`grid ${side} does not fit the chosen layers of ${spec.backbone.origin} (finest is ${finest.height}x${finest.width})`);
  }
  const height = side;
  const width = side;
  const model = cutBackbone(spec);
  const graph = graphOf(model);
  const b = graphBuilder(model, output);
  const parts = shapes.map((s) => {
    if (s.height === height && s.width === width) return s.name;
    const fy = s.height / height;
    const fx = s.width / width;
    if (Number.isInteger(fy) && fy === fx) {
      s.merge = `pool${fy}`;
      return b.node('AveragePool', [s.name], `${output}.pooled.${s.name}`, { kernel_shape: [fy, fy], strides: [fy, fy] });
    }
    s.merge = 'resize';
    return appendResize(b, s.name, [1, s.channels, height, width], output, `.${s.name}`);
  });
  const channels = shapes.reduce((n, s) => n + s.channels, 0);
  b.node('Concat', parts, output, { axis: 1 });
  graph.output = [floatValueInfo(output, [1, channels, height, width])];
  graph.name = `${spec.backbone.name}-features`;
  return { model, layout: { channels, height, width, layers: shapes } };
}

/**
 * Nodes turning the first backbone's input tensor into what `to` expects: back to pixel values,
 * the channel order changed (RGB ↔ BGR; grey repeated into three planes), `to`'s scaling, and a
 * bilinear resize to its size. Returns the converted tensor's name.
 */
function appendInputConversion(model: ModelProto, from: FeatureSpec, to: FeatureSpec, prefix: string): string {
  const b = graphBuilder(model, prefix);
  const f = from.input;
  const t = to.input;
  if (t.channels === 'GRAY' && f.channels !== 'GRAY') {
    throw new ModelPackageError(`second backbone ${to.backbone.origin} takes grey input but ${from.backbone.origin} takes ${f.channels}; use a colour second backbone`);
  }
  const planes = t.channels === 'GRAY' ? 1 : 3;
  const at = (a: readonly number[], c: number): number => a[Math.min(c, a.length - 1)]!;
  // Source plane feeding each target plane.
  const source = Array.from({ length: planes }, (_, c) => (f.channels === 'GRAY' ? 0 : f.channels === t.channels ? c : 2 - c));
  let x = from.input.name;
  if (source.some((s, c) => s !== c) || planes !== (f.channels === 'GRAY' ? 1 : 3)) {
    x = b.node('Gather', [x, b.init(int64Tensor(`${prefix}.planes`, source))], `${prefix}.reordered`, { axis: 1 });
  }
  // x = (p·s_f − m_f)/d_f  →  p = (x·d_f + m_f)/s_f  →  y = (p·s_t − m_t)/d_t = x·a + c.
  const a = source.map((s, c) => (at(f.std, s) * t.scale) / (f.scale * at(t.std, c)));
  const c0 = source.map((s, c) => ((at(f.mean, s) * t.scale) / f.scale - at(t.mean, c)) / at(t.std, c));
  const mul = b.init(floatTensor(`${prefix}.a`, [1, planes, 1, 1], Float32Array.from(a)));
  const add = b.init(floatTensor(`${prefix}.c`, [1, planes, 1, 1], Float32Array.from(c0)));
  x = b.node('Add', [b.node('Mul', [x, mul], `${prefix}.scaled`), add], `${prefix}.shifted`);
  if (to.inputSize !== from.inputSize) x = appendResize(b, x, [1, planes, to.inputSize, to.inputSize], prefix, '');
  return x;
}

/** Bilinear Resize of `x` to `dims`; tensors named `${prefix}.roi${suffix}`, …, output `${prefix}.resized${suffix}`. */
function appendResize(b: GraphBuilder, x: string, dims: number[], prefix: string, suffix: string): string {
  const roi = b.init(floatTensor(`${prefix}.roi${suffix}`, [0], new Float32Array(0)));
  const scales = b.init(floatTensor(`${prefix}.scales${suffix}`, [0], new Float32Array(0)));
  const sizes = b.init(int64Tensor(`${prefix}.sizes${suffix}`, dims));
  return b.node('Resize', [x, roi, scales, sizes], `${prefix}.resized${suffix}`, { mode: 'linear' });
}

export const PROJECTED = 'visor.projected';
/** Dimensions of the random projection used only to choose coresets (PatchCore does the same). */
export const PROJECTION_DIMS = 32;

export interface ExtractedFeatures {
  /** [C, H*W] */
  features: Float32Array;
  /** [PROJECTION_DIMS, H*W]: the same patches, randomly projected (for coreset selection). */
  projected: Float32Array;
  /** [C2, H2*W2]: the second backbone's features, when the extractor has one. */
  second?: Float32Array;
}

export interface FeatureExtractor {
  readonly layout: FeatureLayout;
  /** Tiles per image (spec.geometry). */
  readonly tiles: number;
  readonly secondLayout?: FeatureLayout;
  readonly projectionDims: number;
  /**
   * Features of one image, preprocessed exactly as the runtime will (createPreprocessor); the
   * second backbone's too if asked (only labelled images need them).
   */
  extract(image: RawImage, withSecond?: boolean): Promise<ExtractedFeatures>;
  /** The same per tile of the image (spec.geometry), in tile order; `extract` is the one-tile case. */
  extractTiles(image: RawImage, withSecond?: boolean): Promise<ExtractedFeatures[]>;
  close(): Promise<void>;
}

/**
 * The fit-time extractor also outputs a seeded Gaussian random projection of every patch (a 1×1
 * convolution, so onnxruntime does the arithmetic): greedy coreset selection compares patches
 * in that small space, which keeps the fit fast at any channel count. With a second backbone it
 * holds two sessions, the first backbone alone and both joined, and runs one of them per image:
 * onnxruntime runs a whole graph whatever outputs are asked for, so images that do not need the
 * second backbone's features (unlabelled ones) pay only for the first.
 */
export async function createFeatureExtractor(spec: FeatureSpec, threads: number, seed = 1, second?: FeatureSpec): Promise<FeatureExtractor> {
  const { model, layout } = await buildFeatureGraph(spec);
  const d = Math.min(PROJECTION_DIMS, layout.channels);
  const rand = seededGaussian(seed);
  const weights = new Float32Array(d * layout.channels).map(() => rand() / Math.sqrt(d));
  const withProjection = (m: ModelProto): ModelProto => {
    const b = graphBuilder(m, 'visor.projection');
    const w = b.init(floatTensor('visor.projection.w', [d, layout.channels, 1, 1], weights));
    b.node('Conv', [FEATURES, w], PROJECTED, { kernel_shape: [1, 1] });
    graphOf(m).output.push(floatValueInfo(PROJECTED, [1, d, layout.height, layout.width]));
    return m;
  };
  const session = await ort.InferenceSession.create(encodeModel(withProjection(model)), sessionOptions(threads));
  const joint = second ? await buildFeatureGraph(spec, second) : undefined;
  const jointSession = joint ? await ort.InferenceSession.create(encodeModel(withProjection(joint.model)), sessionOptions(threads)) : undefined;
  const pre = createPreprocessor(manifestInput(spec), spec.geometry);
  const per = pre.data.length / pre.tiles;
  const tensors = Array.from({ length: pre.tiles }, (_, t) => new ort.Tensor('float32', pre.data.subarray(t * per, (t + 1) * per), [...pre.dims]));
  const extractTiles = async (image: RawImage, withSecond = false): Promise<ExtractedFeatures[]> => {
    await pre.run(image);
    const both = withSecond && jointSession !== undefined;
    const tiles: ExtractedFeatures[] = [];
    for (const tensor of tensors) {
      const out = await (both ? jointSession : session).run({ [spec.input.name]: tensor }, both ? [FEATURES, PROJECTED, SECOND] : [FEATURES, PROJECTED]);
      const copy = (name: string): Float32Array => Float32Array.from(out[name]!.data as Float32Array);
      tiles.push({ features: copy(FEATURES), projected: copy(PROJECTED), ...(both ? { second: copy(SECOND) } : {}) });
    }
    return tiles;
  };
  return {
    layout,
    secondLayout: joint?.secondLayout,
    tiles: pre.tiles,
    projectionDims: d,
    async extract(image, withSecond = false) {
      if (pre.tiles !== 1) throw new Error(`extract: the geometry cuts images into ${pre.tiles} tiles; use extractTiles`);
      return (await extractTiles(image, withSecond))[0]!;
    },
    extractTiles,
    async close() {
      await session.release();
      await jointSession?.release();
    },
  };
}

/** Standard normal samples from a seeded mulberry32 stream (Box–Muller). */
function seededGaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
