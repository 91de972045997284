// One small converter per Keras layer class: each emits its ONNX nodes and initialisers
// (channels-last → channels-first) through a LayerContext and reports its output's shape.
import onnxProto from 'onnx-proto';
import { ConvertError } from './errors.js';
import type { KerasLayer } from './keras-graph.js';
import type { Weight } from './tfjs.js';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT64 = onnx.TensorProto.DataType.INT64;
/** Smaller kernels stay float32 under weightStorage 'uint8': three extra nodes are not worth a few hundred bytes. */
const MIN_QUANTISED_ELEMENTS = 256;

/** Shape without the batch: [C, H, W] for images, [D] after Flatten/Dense. */
export type Shape = number[];

export interface LayerInput {
  /** ONNX tensor name. */
  name: string;
  shape: Shape;
}

/** The graph being built, as a layer converter sees it. */
export interface LayerContext {
  /** The layer's inputs, converted already. */
  inputs(layer: KerasLayer): LayerInput[];
  /** The weight `layer/param`, checked against `expected` dims. */
  weight(layer: string, param: string, expected?: number[]): Weight;
  /** Appends a node; returns its output's name. */
  node(opType: string, input: string[], output: string, attribute?: AttributeProto[], name?: string): string;
  initializer(tensor: TensorProto): void;
  /** A float scalar initialiser; returns its name. */
  scalar(name: string, v: number): string;
  /** Whether the layer is one of the requested outputs. */
  isOutput(layer: string): boolean;
  /** The needed layers that consume `layer`. */
  consumers(layer: string): KerasLayer[];
  readonly inputSize: number | undefined;
  readonly weightStorage: 'float32' | 'uint8';
}

/** What a converter reports about its layer. */
export interface LayerOutput {
  shape: Shape;
  /** The ONNX tensor holding the layer's output; default the layer's name. */
  tensor?: string;
  /** Input pixels per output cell; default the largest of its inputs'. */
  stride?: number;
  /** A following layer this one absorbed (a batch norm folded into its conv): it has the same output. */
  absorbed?: string;
}

/** Converts one layer; `inStride` is the largest stride of its inputs. */
export type LayerConverter = (layer: KerasLayer, ctx: LayerContext, inStride: number) => LayerOutput;

// ---------- small tensor helpers ----------

export function floatInit(name: string, dims: number[], data: Float32Array): TensorProto {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

function int64Init(name: string, values: number[]): TensorProto {
  const buf = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), i * 8));
  return { name, dims: [values.length], dataType: INT64, rawData: buf };
}

function ints(name: string, v: number[]): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
}
function int(name: string, v: number): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: v };
}
function str(name: string, v: string): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(v) };
}

function pair(v: unknown, what: string, layer: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new ConvertError(`layer ${layer}: unsupported ${what} ${JSON.stringify(v)}`);
}

/** Keras/TF output side and (before, after) padding for one spatial dimension. */
function spatial(inSide: number, k: number, s: number, d: number, padding: string): { out: number; before: number; after: number } {
  const eff = (k - 1) * d + 1;
  if (padding === 'valid') return { out: Math.floor((inSide - eff) / s) + 1, before: 0, after: 0 };
  const out = Math.ceil(inSide / s);
  const total = Math.max((out - 1) * s + eff - inSide, 0);
  // TF puts the odd pixel at the end, like ONNX SAME_UPPER.
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

// ---------- checks and pieces several layers share ----------

function single(layer: KerasLayer, ctx: LayerContext): LayerInput {
  const ins = ctx.inputs(layer);
  if (ins.length !== 1) throw new ConvertError(`layer ${layer.name} (${layer.class_name}) needs one input, has ${ins.length}`);
  return ins[0]!;
}

function image(layer: KerasLayer, shape: Shape): [number, number, number] {
  if (shape.length !== 3) throw new ConvertError(`layer ${layer.name} (${layer.class_name}) needs an image input, got rank ${shape.length + 1}`);
  return shape as [number, number, number];
}

function channelsLast(layer: KerasLayer): void {
  const f = layer.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last') throw new ConvertError(`layer ${layer.name}: data_format ${String(f)} not supported`);
}

function checkPadding(layer: KerasLayer, padding: string): void {
  if (padding !== 'same' && padding !== 'valid') throw new ConvertError(`layer ${layer.name}: padding ${padding} not supported`);
}

/** ONNX attributes for Keras "same" or "valid" padding. */
function paddingAttribute(padding: string): AttributeProto {
  return padding === 'same' ? str('auto_pad', 'SAME_UPPER') : ints('pads', [0, 0, 0, 0]);
}

/** Applies a Keras activation by name to `x`, producing `out`. */
function activation(ctx: LayerContext, layer: KerasLayer, act: unknown, x: string, out: string, rank: number): string {
  const a = act ?? 'linear';
  switch (a) {
    case 'linear':
      return x === out ? out : ctx.node('Identity', [x], out);
    case 'relu':
      return ctx.node('Relu', [x], out);
    case 'relu6':
      return ctx.node('Clip', [x, ctx.scalar(`${out}/min`, 0), ctx.scalar(`${out}/max`, 6)], out);
    case 'sigmoid':
      return ctx.node('Sigmoid', [x], out);
    case 'tanh':
      return ctx.node('Tanh', [x], out);
    case 'softmax':
      return ctx.node('Softmax', [x], out, [int('axis', rank === 1 ? -1 : 1)]);
    default:
      throw new ConvertError(`layer ${layer.name}: unsupported activation ${JSON.stringify(a)}`);
  }
}

/** The batch norm a conv can absorb: its only consumer, conv linear and not itself an output. */
function foldTarget(ctx: LayerContext, layer: KerasLayer): KerasLayer | undefined {
  if ((layer.config.activation ?? 'linear') !== 'linear' || ctx.isOutput(layer.name)) return undefined;
  const cs = ctx.consumers(layer.name);
  if (cs.length !== 1) return undefined;
  return cs[0]!.class_name === 'BatchNormalization' ? cs[0] : undefined;
}

/** Per-channel a, b with bn(x) = a·x + b. */
function bnAffine(ctx: LayerContext, bn: KerasLayer, channels: number): { a: Float32Array; b: Float32Array } {
  const axis = bn.config.axis;
  const ax = Array.isArray(axis) ? axis[0] : axis;
  if (ax !== -1 && ax !== 3 && ax !== 1 && ax !== undefined) throw new ConvertError(`layer ${bn.name}: batch norm over axis ${String(ax)} not supported`);
  const eps = Number(bn.config.epsilon ?? 1e-3);
  const mean = ctx.weight(bn.name, 'moving_mean', [channels]).values;
  const variance = ctx.weight(bn.name, 'moving_variance', [channels]).values;
  const gamma = bn.config.scale === false ? undefined : ctx.weight(bn.name, 'gamma', [channels]).values;
  const beta = bn.config.center === false ? undefined : ctx.weight(bn.name, 'beta', [channels]).values;
  const a = new Float32Array(channels);
  const b = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    a[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + eps);
    b[c] = (beta ? beta[c]! : 0) - mean[c]! * a[c]!;
  }
  return { a, b };
}

/**
 * Emits a convolution weight in ONNX layout. `perm(i)` gives the source index of ONNX element i;
 * `scale[o]` (folded batch norm) multiplies output channel o (block size `perOut`).
 */
function convWeight(ctx: LayerContext, name: string, src: Weight, dims: number[], perm: (i: number) => number, scale: Float32Array | undefined): string {
  const n = dims.reduce((x, y) => x * y, 1);
  const perOut = n / dims[0]!;
  if (ctx.weightStorage === 'uint8' && src.quantised && n >= MIN_QUANTISED_ELEMENTS) {
    const codes = new Uint8Array(n);
    for (let i = 0; i < n; i++) codes[i] = src.quantised.codes[perm(i)]!;
    ctx.initializer({ name: `${name}/q`, dims, dataType: UINT8, rawData: codes });
    let w = ctx.node('Cast', [`${name}/q`], `${name}/qf`, [int('to', FLOAT)]);
    w = ctx.node('Mul', [w, ctx.scalar(`${name}/scale`, src.quantised.scale)], `${name}/qs`);
    w = ctx.node('Add', [w, ctx.scalar(`${name}/min`, src.quantised.min)], scale ? `${name}/deq` : name);
    if (scale) {
      ctx.initializer(floatInit(`${name}/bn`, [dims[0]!, 1, 1, 1], scale));
      w = ctx.node('Mul', [w, `${name}/bn`], name);
    }
    return w;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = src.values[perm(i)]! * (scale ? scale[Math.floor(i / perOut)]! : 1);
  ctx.initializer(floatInit(name, dims, out));
  return name;
}

// ---------- the converters ----------

const inputLayer: LayerConverter = (layer, ctx) => {
  const cfg = layer.config;
  const bis = cfg.batch_input_shape ?? cfg.batch_shape;
  if (!Array.isArray(bis) || bis.length !== 4) throw new ConvertError(`input ${layer.name} must be an image [batch, H, W, C], got ${JSON.stringify(bis)}`);
  channelsLast(layer);
  const size = ctx.inputSize ?? (typeof bis[1] === 'number' ? bis[1] : undefined);
  if (size === undefined) throw new ConvertError(`input ${layer.name} has no fixed size; pass inputSize`);
  return { shape: [Number(bis[3]), size, size] };
};

/** Conv2D and DepthwiseConv2D, with a following batch norm folded in when it can be. */
const conv: LayerConverter = (layer, ctx, inStride) => {
  const { config: cfg, name } = layer;
  channelsLast(layer);
  const x = single(layer, ctx);
  const [ci, h, w] = image(layer, x.shape);
  const [kh, kw] = pair(cfg.kernel_size, 'kernel_size', name);
  const [sh, sw] = pair(cfg.strides ?? 1, 'strides', name);
  const [dh, dw] = pair(cfg.dilation_rate ?? 1, 'dilation_rate', name);
  const padding = String(cfg.padding);
  checkPadding(layer, padding);
  const depthwise = layer.class_name === 'DepthwiseConv2D';
  const groups = depthwise ? ci : Number(cfg.groups ?? 1);
  const mult = depthwise ? Number(cfg.depth_multiplier ?? 1) : 1;
  const co = depthwise ? ci * mult : Number(cfg.filters);
  const cig = ci / groups;
  const kernel = ctx.weight(name, depthwise ? 'depthwise_kernel' : 'kernel', depthwise ? [kh, kw, ci, mult] : [kh, kw, cig, co]);
  const bn = foldTarget(ctx, layer);
  const affine = bn ? bnAffine(ctx, bn, co) : undefined;
  const outName = bn ? bn.name : name;
  // ONNX [co, cig, kh, kw] ← Keras [kh, kw, cig, co]; depthwise ONNX [ci*mult, 1, kh, kw] ← Keras [kh, kw, ci, mult].
  const perm = depthwise
    ? (i: number) => {
        const x2 = i % kw;
        const y = Math.floor(i / kw) % kh;
        const o = Math.floor(i / (kw * kh));
        return ((y * kw + x2) * ci + Math.floor(o / mult)) * mult + (o % mult);
      }
    : (i: number) => {
        const x2 = i % kw;
        const y = Math.floor(i / kw) % kh;
        const c = Math.floor(i / (kw * kh)) % cig;
        const o = Math.floor(i / (kw * kh * cig));
        return ((y * kw + x2) * cig + c) * co + o;
      };
  const W = convWeight(ctx, `${name}/W`, kernel, [co, depthwise ? 1 : cig, kh, kw], perm, affine?.a);
  const inputs = [x.name, W];
  const useBias = cfg.use_bias !== false;
  if (useBias || affine) {
    const bias = new Float32Array(co);
    const kb = useBias ? ctx.weight(name, 'bias', [co]).values : undefined;
    for (let o = 0; o < co; o++) bias[o] = affine ? (kb ? kb[o]! : 0) * affine.a[o]! + affine.b[o]! : kb![o]!;
    ctx.initializer(floatInit(`${name}/B`, [co], bias));
    inputs.push(`${name}/B`);
  }
  const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw]), ints('dilations', [dh, dw]), int('group', groups), paddingAttribute(padding)];
  const act = cfg.activation ?? 'linear';
  const convOut = act === 'linear' ? outName : `${outName}/conv`;
  ctx.node('Conv', inputs, convOut, attrs, name);
  activation(ctx, layer, act, convOut, outName, 3);
  return {
    shape: [co, spatial(h, kh, sh, dh, padding).out, spatial(w, kw, sw, dw, padding).out],
    tensor: outName,
    stride: inStride * sh,
    ...(bn ? { absorbed: bn.name } : {}),
  };
};

/** A batch norm no conv absorbed: x·a + b per channel. */
const batchNormalization: LayerConverter = (layer, ctx) => {
  const x = single(layer, ctx);
  const c = x.shape[0]!;
  const { a, b } = bnAffine(ctx, layer, c);
  const dims = x.shape.length === 3 ? [c, 1, 1] : [c];
  ctx.initializer(floatInit(`${layer.name}/a`, dims, a));
  ctx.initializer(floatInit(`${layer.name}/b`, dims, b));
  ctx.node('Add', [ctx.node('Mul', [x.name, `${layer.name}/a`], `${layer.name}/mul`), `${layer.name}/b`], layer.name);
  return { shape: x.shape };
};

const relu: LayerConverter = (layer, ctx) => {
  const { config: cfg, name } = layer;
  const x = single(layer, ctx);
  const slope = Number(cfg.negative_slope ?? 0);
  const threshold = Number(cfg.threshold ?? 0);
  if (slope !== 0 || threshold !== 0) throw new ConvertError(`layer ${name}: ReLU with negative_slope/threshold not supported`);
  const max = cfg.max_value;
  if (max === null || max === undefined) ctx.node('Relu', [x.name], name);
  else ctx.node('Clip', [x.name, ctx.scalar(`${name}/min`, 0), ctx.scalar(`${name}/max`, Number(max))], name);
  return { shape: x.shape };
};

const activationLayer: LayerConverter = (layer, ctx) => {
  const x = single(layer, ctx);
  activation(ctx, layer, layer.config.activation, x.name, layer.name, x.shape.length);
  return { shape: x.shape };
};

/** Inference: identity. Keeps its name when it is an output, so it can still be a cut point. */
const dropout: LayerConverter = (layer, ctx) => {
  const x = single(layer, ctx);
  if (!ctx.isOutput(layer.name)) return { shape: x.shape, tensor: x.name };
  ctx.node('Identity', [x.name], layer.name);
  return { shape: x.shape };
};

const zeroPadding: LayerConverter = (layer, ctx) => {
  const name = layer.name;
  channelsLast(layer);
  const x = single(layer, ctx);
  const [c, h, w] = image(layer, x.shape);
  const p = layer.config.padding;
  let t: number, bo: number, l: number, r: number;
  if (typeof p === 'number') [t, bo, l, r] = [p, p, p, p];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) [t, bo, l, r] = [p[0], p[0], p[1], p[1]];
  else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) {
    [t, bo] = p[0] as [number, number];
    [l, r] = p[1] as [number, number];
  } else throw new ConvertError(`layer ${name}: unsupported padding ${JSON.stringify(p)}`);
  ctx.initializer(int64Init(`${name}/pads`, [0, 0, t, l, 0, 0, bo, r]));
  ctx.node('Pad', [x.name, `${name}/pads`], name, [str('mode', 'constant')]);
  return { shape: [c, h + t + bo, w + l + r] };
};

/** MaxPooling2D and AveragePooling2D. */
const pooling: LayerConverter = (layer, ctx, inStride) => {
  const { config: cfg, name } = layer;
  channelsLast(layer);
  const x = single(layer, ctx);
  const [c, h, w] = image(layer, x.shape);
  const [kh, kw] = pair(cfg.pool_size ?? 2, 'pool_size', name);
  const [sh, sw] = pair(cfg.strides ?? [kh, kw], 'strides', name);
  const padding = String(cfg.padding ?? 'valid');
  checkPadding(layer, padding);
  const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw]), paddingAttribute(padding)];
  // Keras "same" average pooling divides by the number of real pixels, not the window.
  if (layer.class_name === 'AveragePooling2D') attrs.push(int('count_include_pad', 0));
  ctx.node(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], name, attrs);
  return { shape: [c, spatial(h, kh, sh, 1, padding).out, spatial(w, kw, sw, 1, padding).out], stride: inStride * sh };
};

/** GlobalAveragePooling2D and GlobalMaxPooling2D. */
const globalPooling: LayerConverter = (layer, ctx) => {
  channelsLast(layer);
  const x = single(layer, ctx);
  const [c] = image(layer, x.shape);
  const keep = layer.config.keepdims === true;
  ctx.node(layer.class_name === 'GlobalMaxPooling2D' ? 'ReduceMax' : 'ReduceMean', [x.name], layer.name, [ints('axes', [2, 3]), int('keepdims', keep ? 1 : 0)]);
  return { shape: keep ? [c, 1, 1] : [c] };
};

const concatenate: LayerConverter = (layer, ctx) => {
  const ins = ctx.inputs(layer);
  const rank = ins[0]!.shape.length + 1;
  let axis = Number(layer.config.axis ?? -1);
  if (axis < 0) axis += rank;
  // NHWC axis → NCHW axis.
  const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis]! : axis;
  ctx.node('Concat', ins.map((i) => i.name), layer.name, [int('axis', onnxAxis)]);
  const shape = [...ins[0]!.shape];
  shape[onnxAxis - 1] = ins.reduce((s, i) => s + i.shape[onnxAxis - 1]!, 0);
  return { shape };
};

const add: LayerConverter = (layer, ctx) => {
  const ins = ctx.inputs(layer);
  if (ins.length < 2) throw new ConvertError(`layer ${layer.name}: Add needs two or more inputs`);
  ctx.node(ins.length === 2 ? 'Add' : 'Sum', ins.map((i) => i.name), layer.name);
  return { shape: ins[0]!.shape };
};

const flatten: LayerConverter = (layer, ctx) => {
  const x = single(layer, ctx);
  // Keras flattens channels-last (H, W, C order): go back to NHWC first.
  const src = x.shape.length === 3 ? ctx.node('Transpose', [x.name], `${layer.name}/nhwc`, [ints('perm', [0, 2, 3, 1])]) : x.name;
  ctx.node('Flatten', [src], layer.name, [int('axis', 1)]);
  return { shape: [x.shape.reduce((a, b) => a * b, 1)] };
};

const dense: LayerConverter = (layer, ctx) => {
  const { config: cfg, name } = layer;
  const x = single(layer, ctx);
  if (x.shape.length !== 1) throw new ConvertError(`layer ${name}: Dense on a rank-${x.shape.length + 1} input is not supported (add a Flatten)`);
  const units = Number(cfg.units);
  const k = ctx.weight(name, 'kernel', [x.shape[0]!, units]);
  ctx.initializer(floatInit(`${name}/W`, [x.shape[0]!, units], k.values));
  let y = ctx.node('MatMul', [x.name, `${name}/W`], `${name}/matmul`);
  const act = cfg.activation ?? 'linear';
  if (cfg.use_bias !== false) {
    ctx.initializer(floatInit(`${name}/B`, [units], ctx.weight(name, 'bias', [units]).values));
    y = ctx.node('Add', [y, `${name}/B`], act === 'linear' ? name : `${name}/biased`);
  }
  activation(ctx, layer, act, y, name, 1);
  return { shape: [units] };
};

/** The converter of each Keras layer class the converter understands (anything else is an error naming the layer). */
export const LAYER_CONVERTERS = {
  InputLayer: inputLayer,
  Conv2D: conv,
  DepthwiseConv2D: conv,
  BatchNormalization: batchNormalization,
  ReLU: relu,
  Activation: activationLayer,
  ZeroPadding2D: zeroPadding,
  MaxPooling2D: pooling,
  AveragePooling2D: pooling,
  GlobalAveragePooling2D: globalPooling,
  GlobalMaxPooling2D: globalPooling,
  Concatenate: concatenate,
  Add: add,
  Dense: dense,
  Flatten: flatten,
  Dropout: dropout,
} satisfies Record<string, LayerConverter>;
