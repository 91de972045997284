// Keras (TensorFlow.js layers) functional model → ONNX graph, channels-last → channels-first.
// Only the layers the requested outputs depend on are converted, so a backbone cut at a middle
// layer carries no classifier weights. Each converted layer's output tensor is named after the
// Keras layer, so any of them can be a graph output.
import onnxProto from 'onnx-proto';
import { ConvertError } from './errors.js';
import { decodeWeights, type TfjsArtifacts, type Weight } from './tfjs.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT64 = onnx.TensorProto.DataType.INT64;
export const OPSET = 13;
/** Smaller kernels stay float32 under weightStorage 'uint8': three extra nodes are not worth a few hundred bytes. */
const MIN_QUANTISED_ELEMENTS = 256;

/** Layer classes the converter understands (anything else is an error naming the layer). */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'ZeroPadding2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Concatenate',
  'Add',
  'Dense',
  'Flatten',
  'Dropout',
] as const;

export interface ConvertOptions {
  /** Keras layer names that become graph outputs (feature maps, NCHW). */
  outputs: readonly string[];
  /** Square input side used for the shapes reported back (the graph itself takes any H×W). */
  inputSize?: number;
  /**
   * 'uint8' keeps uint8-quantised kernels as uint8 initialisers dequantised inside the graph
   * (Cast·scale+min, then the folded batch-norm factor), about a quarter of float32 on disk and
   * exactly the values tfjs computes. Small tensors stay float32. Default 'float32'.
   */
  weightStorage?: 'float32' | 'uint8';
  /** Graph name and producer metadata. */
  graphName?: string;
  docString?: string;
}

export interface ConvertedOutput {
  name: string;
  channels: number;
  /** Input pixels per output cell: the product of the conv/pool strides before it (8 for mixed2, even if valid padding leaves 35×35 of 299). */
  stride: number;
  /** NCHW shape at `inputSize` (rank 2 for Dense/Flatten outputs). */
  shape: number[];
}

export interface ConvertResult {
  /** Serialised ONNX model. */
  onnx: Uint8Array;
  inputName: string;
  inputSize: number;
  outputs: ConvertedOutput[];
  /** Keras layers converted, in order. */
  layers: string[];
}

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

interface KerasGraph {
  layers: KerasLayer[];
  /** Input layer names. */
  inputs: string[];
  /** Per layer, the names of the layers it consumes. */
  inbound: Map<string, string[]>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Normalises Functional (`Model`) and `Sequential` topologies into one layer graph. */
export function kerasGraph(modelTopology: unknown): KerasGraph {
  const top = isRecord(modelTopology) && isRecord(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  if (!isRecord(top) || typeof top.class_name !== 'string') throw new ConvertError('model topology has no class_name');
  const cfg = top.config;
  if (top.class_name === 'Sequential') {
    const list = (Array.isArray(cfg) ? cfg : isRecord(cfg) ? cfg.layers : undefined) as KerasLayer[] | undefined;
    if (!Array.isArray(list) || list.length === 0) throw new ConvertError('Sequential model has no layers');
    const layers: KerasLayer[] = [];
    const first = list[0]!;
    let prev: string;
    if (first.class_name === 'InputLayer') {
      prev = String(first.config.name ?? 'input');
    } else {
      const shape = first.config.batch_input_shape;
      if (!Array.isArray(shape)) throw new ConvertError(`Sequential model: first layer ${String(first.config.name)} has no batch_input_shape`);
      prev = 'input';
      layers.push({ name: prev, class_name: 'InputLayer', config: { batch_input_shape: shape }, inbound_nodes: [] });
    }
    const inbound = new Map<string, string[]>();
    for (const l of list) {
      const name = String(l.config.name ?? l.name);
      if (l.class_name === 'InputLayer') {
        layers.push({ name, class_name: l.class_name, config: l.config, inbound_nodes: [] });
        continue;
      }
      layers.push({ name, class_name: l.class_name, config: l.config, inbound_nodes: [] });
      inbound.set(name, [prev]);
      prev = name;
    }
    return { layers, inputs: [layers[0]!.name], inbound };
  }
  if (top.class_name !== 'Model' && top.class_name !== 'Functional') {
    throw new ConvertError(`unsupported model class ${top.class_name} (expected Model, Functional or Sequential)`);
  }
  if (!isRecord(cfg) || !Array.isArray(cfg.layers)) throw new ConvertError('model config has no layers');
  const layers = cfg.layers as KerasLayer[];
  const inbound = new Map<string, string[]>();
  for (const l of layers) {
    if (l.inbound_nodes.length > 1) throw new ConvertError(`layer ${l.name} is shared (called ${l.inbound_nodes.length} times); not supported`);
    const node = l.inbound_nodes[0];
    if (node === undefined) continue;
    if (!Array.isArray(node)) throw new ConvertError(`layer ${l.name}: unsupported inbound node format`);
    inbound.set(
      l.name,
      node.map((ref) => {
        if (!Array.isArray(ref) || typeof ref[0] !== 'string') throw new ConvertError(`layer ${l.name}: unsupported inbound node format`);
        if (ref[1] !== 0 || ref[2] !== 0) throw new ConvertError(`layer ${l.name}: inbound ${ref[0]}[${ref[1]}][${ref[2]}] (shared or multi-output layers are not supported)`);
        return ref[0];
      }),
    );
  }
  const inputs = ((cfg.input_layers as unknown[]) ?? []).map((r) => (Array.isArray(r) ? String(r[0]) : String(r)));
  return { layers, inputs: inputs.length > 0 ? inputs : layers.filter((l) => l.class_name === 'InputLayer').map((l) => l.name), inbound };
}

// ---------- small tensor helpers ----------

function floatInit(name: string, dims: number[], data: Float32Array): TensorProto {
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

// ---------- the converter ----------

/** Shape without the batch: [C, H, W] for images, [D] after Flatten/Dense. */
type Shape = number[];

/** Converts a tfjs layers model into an ONNX graph whose outputs are the named layers. */
export function convertLayersModel(art: TfjsArtifacts, options: ConvertOptions): ConvertResult {
  if (options.outputs.length === 0) throw new ConvertError('no output layers given');
  const graph = kerasGraph(art.modelTopology);
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  for (const o of options.outputs) {
    if (!byName.has(o)) throw new ConvertError(`output layer ${o} is not in the model`);
  }

  // Layers the outputs depend on.
  const needed = new Set<string>();
  const stack = [...options.outputs];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    needed.add(n);
    for (const i of graph.inbound.get(n) ?? []) stack.push(i);
  }
  const order = graph.layers.filter((l) => needed.has(l.name));
  const inputLayers = order.filter((l) => l.class_name === 'InputLayer');
  if (inputLayers.length !== 1) throw new ConvertError(`expected one input layer, the outputs need ${inputLayers.length}`);
  for (const l of order) {
    if (!(SUPPORTED_LAYERS as readonly string[]).includes(l.class_name)) {
      throw new ConvertError(`unsupported layer ${l.name} (${l.class_name}); supported: ${SUPPORTED_LAYERS.join(', ')}`);
    }
  }
  const consumers = new Map<string, string[]>();
  for (const l of order) for (const i of graph.inbound.get(l.name) ?? []) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);

  const weights = decodeWeights(art);
  const storage = options.weightStorage ?? 'float32';
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const shapes = new Map<string, Shape>();
  /** Nominal stride (product of conv/pool strides) per layer; valid padding makes real sides a little smaller. */
  const strides = new Map<string, number>();
  /** Keras layer name → ONNX tensor name (differs only for batch norms folded into a conv). */
  const tensor = new Map<string, string>();
  const folded = new Set<string>();

  const weight = (layer: string, param: string, expected?: number[]): Weight => {
    const w = weights.get(`${layer}/${param}`) ?? [...weights.values()].find((x) => x.name.endsWith(`/${layer}/${param}`));
    if (w === undefined) throw new ConvertError(`layer ${layer}: weight ${layer}/${param} is missing from the weight manifest`);
    if (expected && (w.shape.length !== expected.length || w.shape.some((d, i) => d !== expected[i]))) {
      throw new ConvertError(`layer ${layer}: weight ${w.name} has shape [${w.shape}], expected [${expected}]`);
    }
    return w;
  };
  const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = [], name = output): string => {
    nodes.push({ name: `${name}/${opType}`, opType, input, output: [output], attribute });
    return output;
  };
  const scalarInit = (name: string, v: number): string => {
    inits.push({ name, dims: [], dataType: FLOAT, rawData: new Uint8Array(new Float32Array([v]).buffer) });
    return name;
  };
  const inputOf = (layer: KerasLayer): { name: string; shape: Shape }[] =>
    (graph.inbound.get(layer.name) ?? []).map((i) => ({ name: tensor.get(i)!, shape: shapes.get(i)! }));
  const single = (layer: KerasLayer): { name: string; shape: Shape } => {
    const ins = inputOf(layer);
    if (ins.length !== 1) throw new ConvertError(`layer ${layer.name} (${layer.class_name}) needs one input, has ${ins.length}`);
    return ins[0]!;
  };
  const image = (layer: KerasLayer, shape: Shape): [number, number, number] => {
    if (shape.length !== 3) throw new ConvertError(`layer ${layer.name} (${layer.class_name}) needs an image input, got rank ${shape.length + 1}`);
    return shape as [number, number, number];
  };
  const channelsLast = (layer: KerasLayer): void => {
    const f = layer.config.data_format;
    if (f !== undefined && f !== null && f !== 'channels_last') throw new ConvertError(`layer ${layer.name}: data_format ${String(f)} not supported`);
  };
  /** Applies a Keras activation by name to `x`, producing `out`. */
  const activation = (layer: KerasLayer, act: unknown, x: string, out: string, rank: number): string => {
    const a = act ?? 'linear';
    switch (a) {
      case 'linear':
        return x === out ? out : node('Identity', [x], out);
      case 'relu':
        return node('Relu', [x], out);
      case 'relu6':
        return node('Clip', [x, scalarInit(`${out}/min`, 0), scalarInit(`${out}/max`, 6)], out);
      case 'sigmoid':
        return node('Sigmoid', [x], out);
      case 'tanh':
        return node('Tanh', [x], out);
      case 'softmax':
        return node('Softmax', [x], out, [int('axis', rank === 1 ? -1 : 1)]);
      default:
        throw new ConvertError(`layer ${layer.name}: unsupported activation ${JSON.stringify(a)}`);
    }
  };

  /** The batch norm a conv can absorb: its only consumer, conv linear and not itself an output. */
  const foldTarget = (layer: KerasLayer): KerasLayer | undefined => {
    if ((layer.config.activation ?? 'linear') !== 'linear' || options.outputs.includes(layer.name)) return undefined;
    const cs = consumers.get(layer.name) ?? [];
    if (cs.length !== 1) return undefined;
    const bn = byName.get(cs[0]!)!;
    return bn.class_name === 'BatchNormalization' ? bn : undefined;
  };
  /** Per-channel a, b with bn(x) = a·x + b. */
  const bnAffine = (bn: KerasLayer, channels: number): { a: Float32Array; b: Float32Array } => {
    const axis = bn.config.axis;
    const ax = Array.isArray(axis) ? axis[0] : axis;
    if (ax !== -1 && ax !== 3 && ax !== 1 && ax !== undefined) throw new ConvertError(`layer ${bn.name}: batch norm over axis ${String(ax)} not supported`);
    const eps = Number(bn.config.epsilon ?? 1e-3);
    const mean = weight(bn.name, 'moving_mean', [channels]).values;
    const variance = weight(bn.name, 'moving_variance', [channels]).values;
    const gamma = bn.config.scale === false ? undefined : weight(bn.name, 'gamma', [channels]).values;
    const beta = bn.config.center === false ? undefined : weight(bn.name, 'beta', [channels]).values;
    const a = new Float32Array(channels);
    const b = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      a[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + eps);
      b[c] = (beta ? beta[c]! : 0) - mean[c]! * a[c]!;
    }
    return { a, b };
  };

  /**
   * Emits a convolution weight in ONNX layout. `perm(i)` gives the source index of ONNX element i;
   * `scale[o]` (folded batch norm) multiplies output channel o (block size `perOut`).
   */
  const convWeight = (name: string, src: Weight, dims: number[], perm: (i: number) => number, scale: Float32Array | undefined): string => {
    const n = dims.reduce((x, y) => x * y, 1);
    const perOut = n / dims[0]!;
    if (storage === 'uint8' && src.quantised && n >= MIN_QUANTISED_ELEMENTS) {
      const codes = new Uint8Array(n);
      for (let i = 0; i < n; i++) codes[i] = src.quantised.codes[perm(i)]!;
      inits.push({ name: `${name}/q`, dims, dataType: UINT8, rawData: codes });
      let w = node('Cast', [`${name}/q`], `${name}/qf`, [int('to', FLOAT)]);
      w = node('Mul', [w, scalarInit(`${name}/scale`, src.quantised.scale)], `${name}/qs`);
      w = node('Add', [w, scalarInit(`${name}/min`, src.quantised.min)], scale ? `${name}/deq` : name);
      if (scale) {
        inits.push(floatInit(`${name}/bn`, [dims[0]!, 1, 1, 1], scale));
        w = node('Mul', [w, `${name}/bn`], name);
      }
      return w;
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = src.values[perm(i)]! * (scale ? scale[Math.floor(i / perOut)]! : 1);
    inits.push(floatInit(name, dims, out));
    return name;
  };

  for (const layer of order) {
    const cfg = layer.config;
    const name = layer.name;
    const inStride = Math.max(1, ...(graph.inbound.get(name) ?? []).map((i) => strides.get(i) ?? 1));
    strides.set(name, inStride);
    switch (layer.class_name) {
      case 'InputLayer': {
        const bis = cfg.batch_input_shape ?? cfg.batch_shape;
        if (!Array.isArray(bis) || bis.length !== 4) throw new ConvertError(`input ${name} must be an image [batch, H, W, C], got ${JSON.stringify(bis)}`);
        channelsLast(layer);
        const size = options.inputSize ?? (typeof bis[1] === 'number' ? bis[1] : undefined);
        if (size === undefined) throw new ConvertError(`input ${name} has no fixed size; pass inputSize`);
        shapes.set(name, [Number(bis[3]), size, size]);
        tensor.set(name, name);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        channelsLast(layer);
        const x = single(layer);
        const [ci, h, w] = image(layer, x.shape);
        const [kh, kw] = pair(cfg.kernel_size, 'kernel_size', name);
        const [sh, sw] = pair(cfg.strides ?? 1, 'strides', name);
        const [dh, dw] = pair(cfg.dilation_rate ?? 1, 'dilation_rate', name);
        const padding = String(cfg.padding);
        if (padding !== 'same' && padding !== 'valid') throw new ConvertError(`layer ${name}: padding ${padding} not supported`);
        const depthwise = layer.class_name === 'DepthwiseConv2D';
        const groups = depthwise ? ci : Number(cfg.groups ?? 1);
        const mult = depthwise ? Number(cfg.depth_multiplier ?? 1) : 1;
        const co = depthwise ? ci * mult : Number(cfg.filters);
        const cig = ci / groups;
        const kernel = weight(name, depthwise ? 'depthwise_kernel' : 'kernel', depthwise ? [kh, kw, ci, mult] : [kh, kw, cig, co]);
        const bn = foldTarget(layer);
        const affine = bn ? bnAffine(bn, co) : undefined;
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
        const W = convWeight(`${name}/W`, kernel, [co, depthwise ? 1 : cig, kh, kw], perm, affine?.a);
        const inputs = [x.name, W];
        const useBias = cfg.use_bias !== false;
        if (useBias || affine) {
          const bias = new Float32Array(co);
          const kb = useBias ? weight(name, 'bias', [co]).values : undefined;
          for (let o = 0; o < co; o++) bias[o] = affine ? (kb ? kb[o]! : 0) * affine.a[o]! + affine.b[o]! : kb![o]!;
          inits.push(floatInit(`${name}/B`, [co], bias));
          inputs.push(`${name}/B`);
        }
        const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw]), ints('dilations', [dh, dw]), int('group', groups)];
        attrs.push(padding === 'same' ? str('auto_pad', 'SAME_UPPER') : ints('pads', [0, 0, 0, 0]));
        const act = cfg.activation ?? 'linear';
        const convOut = act === 'linear' ? outName : `${outName}/conv`;
        node('Conv', inputs, convOut, attrs, name);
        activation(layer, act, convOut, outName, 3);
        const shape = [co, spatial(h, kh, sh, dh, padding).out, spatial(w, kw, sw, dw, padding).out];
        shapes.set(name, shape);
        tensor.set(name, outName);
        strides.set(name, inStride * sh);
        if (bn) {
          folded.add(bn.name);
          strides.set(bn.name, inStride * sh);
          shapes.set(bn.name, shape);
          tensor.set(bn.name, outName);
        }
        break;
      }
      case 'BatchNormalization': {
        if (folded.has(name)) break;
        const x = single(layer);
        const c = x.shape[0]!;
        const { a, b } = bnAffine(layer, c);
        const dims = x.shape.length === 3 ? [c, 1, 1] : [c];
        inits.push(floatInit(`${name}/a`, dims, a), floatInit(`${name}/b`, dims, b));
        node('Add', [node('Mul', [x.name, `${name}/a`], `${name}/mul`), `${name}/b`], name);
        shapes.set(name, x.shape);
        tensor.set(name, name);
        break;
      }
      case 'ReLU': {
        const x = single(layer);
        const slope = Number(cfg.negative_slope ?? 0);
        const threshold = Number(cfg.threshold ?? 0);
        if (slope !== 0 || threshold !== 0) throw new ConvertError(`layer ${name}: ReLU with negative_slope/threshold not supported`);
        const max = cfg.max_value;
        if (max === null || max === undefined) node('Relu', [x.name], name);
        else node('Clip', [x.name, scalarInit(`${name}/min`, 0), scalarInit(`${name}/max`, Number(max))], name);
        shapes.set(name, x.shape);
        tensor.set(name, name);
        break;
      }
      case 'Activation': {
        const x = single(layer);
        activation(layer, cfg.activation, x.name, name, x.shape.length);
        shapes.set(name, x.shape);
        tensor.set(name, name);
        break;
      }
      case 'Dropout': {
        // Inference: identity. Keep the name so it can still be a cut point.
        const x = single(layer);
        if (options.outputs.includes(name)) node('Identity', [x.name], name);
        shapes.set(name, x.shape);
        tensor.set(name, options.outputs.includes(name) ? name : x.name);
        break;
      }
      case 'ZeroPadding2D': {
        channelsLast(layer);
        const x = single(layer);
        const [c, h, w] = image(layer, x.shape);
        const p = cfg.padding;
        let t: number, bo: number, l: number, r: number;
        if (typeof p === 'number') [t, bo, l, r] = [p, p, p, p];
        else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) [t, bo, l, r] = [p[0], p[0], p[1], p[1]];
        else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) {
          [t, bo] = p[0] as [number, number];
          [l, r] = p[1] as [number, number];
        } else throw new ConvertError(`layer ${name}: unsupported padding ${JSON.stringify(p)}`);
        inits.push(int64Init(`${name}/pads`, [0, 0, t, l, 0, 0, bo, r]));
        node('Pad', [x.name, `${name}/pads`], name, [str('mode', 'constant')]);
        shapes.set(name, [c, h + t + bo, w + l + r]);
        tensor.set(name, name);
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        channelsLast(layer);
        const x = single(layer);
        const [c, h, w] = image(layer, x.shape);
        const [kh, kw] = pair(cfg.pool_size ?? 2, 'pool_size', name);
        const [sh, sw] = pair(cfg.strides ?? [kh, kw], 'strides', name);
        const padding = String(cfg.padding ?? 'valid');
        if (padding !== 'same' && padding !== 'valid') throw new ConvertError(`layer ${name}: padding ${padding} not supported`);
        const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw])];
        attrs.push(padding === 'same' ? str('auto_pad', 'SAME_UPPER') : ints('pads', [0, 0, 0, 0]));
        // Keras "same" average pooling divides by the number of real pixels, not the window.
        if (layer.class_name === 'AveragePooling2D') attrs.push(int('count_include_pad', 0));
        node(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], name, attrs);
        shapes.set(name, [c, spatial(h, kh, sh, 1, padding).out, spatial(w, kw, sw, 1, padding).out]);
        strides.set(name, inStride * sh);
        tensor.set(name, name);
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        channelsLast(layer);
        const x = single(layer);
        const [c] = image(layer, x.shape);
        const keep = cfg.keepdims === true;
        node(layer.class_name === 'GlobalMaxPooling2D' ? 'ReduceMax' : 'ReduceMean', [x.name], name, [ints('axes', [2, 3]), int('keepdims', keep ? 1 : 0)]);
        shapes.set(name, keep ? [c, 1, 1] : [c]);
        tensor.set(name, name);
        break;
      }
      case 'Concatenate': {
        const ins = inputOf(layer);
        const rank = ins[0]!.shape.length + 1;
        let axis = Number(cfg.axis ?? -1);
        if (axis < 0) axis += rank;
        // NHWC axis → NCHW axis.
        const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis]! : axis;
        node('Concat', ins.map((i) => i.name), name, [int('axis', onnxAxis)]);
        const shape = [...ins[0]!.shape];
        shape[onnxAxis - 1] = ins.reduce((s, i) => s + i.shape[onnxAxis - 1]!, 0);
        shapes.set(name, shape);
        tensor.set(name, name);
        break;
      }
      case 'Add': {
        const ins = inputOf(layer);
        if (ins.length < 2) throw new ConvertError(`layer ${name}: Add needs two or more inputs`);
        node(ins.length === 2 ? 'Add' : 'Sum', ins.map((i) => i.name), name);
        shapes.set(name, ins[0]!.shape);
        tensor.set(name, name);
        break;
      }
      case 'Flatten': {
        const x = single(layer);
        // Keras flattens channels-last (H, W, C order): go back to NHWC first.
        const src = x.shape.length === 3 ? node('Transpose', [x.name], `${name}/nhwc`, [ints('perm', [0, 2, 3, 1])]) : x.name;
        node('Flatten', [src], name, [int('axis', 1)]);
        shapes.set(name, [x.shape.reduce((a, b) => a * b, 1)]);
        tensor.set(name, name);
        break;
      }
      case 'Dense': {
        const x = single(layer);
        if (x.shape.length !== 1) throw new ConvertError(`layer ${name}: Dense on a rank-${x.shape.length + 1} input is not supported (add a Flatten)`);
        const units = Number(cfg.units);
        const k = weight(name, 'kernel', [x.shape[0]!, units]);
        inits.push(floatInit(`${name}/W`, [x.shape[0]!, units], k.values));
        let y = node('MatMul', [x.name, `${name}/W`], `${name}/matmul`);
        const act = cfg.activation ?? 'linear';
        if (cfg.use_bias !== false) {
          inits.push(floatInit(`${name}/B`, [units], weight(name, 'bias', [units]).values));
          y = node('Add', [y, `${name}/B`], act === 'linear' ? name : `${name}/biased`);
        }
        activation(layer, act, y, name, 1);
        shapes.set(name, [units]);
        tensor.set(name, name);
        break;
      }
      default:
        throw new ConvertError(`unsupported layer ${name} (${layer.class_name})`);
    }
  }

  const input = inputLayers[0]!;
  const inShape = shapes.get(input.name)!;
  const size = inShape[1]!;
  const outputs: ConvertedOutput[] = options.outputs.map((o) => {
    const shape = shapes.get(o)!;
    return {
      name: o,
      channels: shape[0]!,
      stride: shape.length === 3 ? strides.get(o)! : size,
      shape: [1, ...shape],
    };
  });
  // An output that is a plain alias (a Dropout, or a folded-away name) needs its own tensor name.
  for (const o of options.outputs) {
    if (tensor.get(o) !== o) node('Identity', [tensor.get(o)!], o);
  }
  const dim = (d: number | string) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  const valueInfo = (n: string, dims: (number | string)[]) => ({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'visor-convert',
    docString: options.docString ?? '',
    graph: {
      name: options.graphName ?? 'backbone',
      node: nodes,
      initializer: inits,
      // Spatial dims are symbolic: every op is size-agnostic ("same" is SAME_UPPER, pads are explicit),
      // so a fit may run the backbone at another size than it was measured at.
      input: [valueInfo(input.name, [1, inShape[0]!, 'height', 'width'])],
      output: outputs.map((o) => valueInfo(o.name, o.shape.length === 4 ? [1, o.channels, `${o.name}_h`, `${o.name}_w`] : [1, o.channels])),
    },
  });
  return {
    onnx: onnx.ModelProto.encode(model).finish(),
    inputName: input.name,
    inputSize: size,
    outputs,
    layers: order.map((l) => l.name),
  };
}
