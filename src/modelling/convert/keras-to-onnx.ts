// Keras (TensorFlow.js layers) functional model → ONNX graph, channels-last → channels-first.
// Only the layers the requested outputs depend on are converted, so a backbone cut at a middle
// layer carries no classifier weights. Each converted layer's output tensor is named after the
// Keras layer, so any of them can be a graph output.
import onnxProto from 'onnx-proto';
import { ConvertError } from './errors.js';
import { kerasGraph } from './keras-graph.js';
import { FLOAT, LAYER_CONVERTERS, type LayerContext, type LayerConverter, type Shape } from './layers.js';
import { decodeWeights, type TfjsArtifacts, type Weight } from './tfjs.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

export const OPSET = 13;

/** Layer classes the converter understands (anything else is an error naming the layer). */
export const SUPPORTED_LAYERS = Object.keys(LAYER_CONVERTERS) as readonly (keyof typeof LAYER_CONVERTERS)[];

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
  const converters = LAYER_CONVERTERS as Record<string, LayerConverter>;
  for (const l of order) {
    if (!Object.hasOwn(converters, l.class_name)) {
      throw new ConvertError(`unsupported layer ${l.name} (${l.class_name}); supported: ${SUPPORTED_LAYERS.join(', ')}`);
    }
  }
  const consumers = new Map<string, string[]>();
  for (const l of order) for (const i of graph.inbound.get(l.name) ?? []) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);

  const weights = decodeWeights(art);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const shapes = new Map<string, Shape>();
  /** Nominal stride (product of conv/pool strides) per layer; valid padding makes real sides a little smaller. */
  const strides = new Map<string, number>();
  /** Keras layer name → ONNX tensor name (differs for batch norms folded into a conv and for dropouts). */
  const tensor = new Map<string, string>();

  const node = (opType: string, input: string[], output: string, attribute: onnxProto.onnx.IAttributeProto[] = [], name = output): string => {
    nodes.push({ name: `${name}/${opType}`, opType, input, output: [output], attribute });
    return output;
  };
  const ctx: LayerContext = {
    inputs: (layer) => (graph.inbound.get(layer.name) ?? []).map((i) => ({ name: tensor.get(i)!, shape: shapes.get(i)! })),
    weight(layer, param, expected): Weight {
      const w = weights.get(`${layer}/${param}`) ?? [...weights.values()].find((x) => x.name.endsWith(`/${layer}/${param}`));
      if (w === undefined) throw new ConvertError(`layer ${layer}: weight ${layer}/${param} is missing from the weight manifest`);
      if (expected && (w.shape.length !== expected.length || w.shape.some((d, i) => d !== expected[i]))) {
        throw new ConvertError(`layer ${layer}: weight ${w.name} has shape [${w.shape}], expected [${expected}]`);
      }
      return w;
    },
    node,
    initializer: (t) => void inits.push(t),
    scalar(name, v) {
      inits.push({ name, dims: [], dataType: FLOAT, rawData: new Uint8Array(new Float32Array([v]).buffer) });
      return name;
    },
    isOutput: (layer) => options.outputs.includes(layer),
    consumers: (layer) => (consumers.get(layer) ?? []).map((c) => byName.get(c)!),
    inputSize: options.inputSize,
    weightStorage: options.weightStorage ?? 'float32',
  };

  for (const layer of order) {
    // A batch norm its conv absorbed was given the conv's output already.
    if (shapes.has(layer.name)) continue;
    const inStride = Math.max(1, ...(graph.inbound.get(layer.name) ?? []).map((i) => strides.get(i) ?? 1));
    const out = converters[layer.class_name]!(layer, ctx, inStride);
    for (const name of [layer.name, ...(out.absorbed ? [out.absorbed] : [])]) {
      shapes.set(name, out.shape);
      tensor.set(name, out.tensor ?? layer.name);
      strides.set(name, out.stride ?? inStride);
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
