// Small helpers to cut and extend ONNX graphs with onnx-proto (no Python here). The head is
// written for whatever opset the backbone uses (11 or newer): ops whose attributes became
// inputs (ReduceSum in 13, the other reductions in 18) are emitted in the right form.
import onnxProto from 'onnx-proto';
import { ModelPackageError } from '../../common/errors.js';

const { onnx } = onnxProto;
export type ModelProto = InstanceType<typeof onnx.ModelProto>;
export type NodeProto = InstanceType<typeof onnx.NodeProto>;
export type TensorProto = InstanceType<typeof onnx.TensorProto>;
export type AttributeProto = InstanceType<typeof onnx.AttributeProto>;
export type GraphProto = InstanceType<typeof onnx.GraphProto>;

/** The model's graph; decoded models always have one, with every repeated field as an array. */
export function graphOf(model: ModelProto): GraphProto {
  if (model.graph == null) throw new ModelPackageError('ONNX model has no graph');
  return model.graph as GraphProto;
}

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export function decodeModel(buf: Uint8Array, source = 'ONNX model'): ModelProto {
  try {
    return onnx.ModelProto.decode(buf);
  } catch (err) {
    throw new ModelPackageError(`${source} is not a readable ONNX file: ${(err as Error).message}`, { cause: err });
  }
}

/** Version of the default ("ai.onnx") operator set the model imports. */
export function opsetOf(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}

/**
 * Operators whose definition for float tensors (inputs, attributes, what they compute) is the same
 * from opset 11 to 13: a graph of only these can be declared at 13 unchanged. Opset 13 moved
 * ReduceSum's, Squeeze's, Unsqueeze's and Split's axes into inputs and changed Softmax's axis, so
 * those and every other operator are left out.
 */
const UNCHANGED_11_TO_13 = new Set(['Add', 'AveragePool', 'BatchNormalization', 'Cast', 'Clip', 'Concat', 'Constant', 'Conv', 'Div', 'Flatten', 'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'Identity', 'MatMul', 'MaxPool', 'Mul', 'Pad', 'Relu', 'Reshape', 'Sigmoid', 'Sqrt', 'Sub', 'Tanh', 'Transpose']);

/**
 * Declares the model at opset `to` (at most 13) when its graph is at 11 or newer and uses only
 * operators unchanged since (UNCHANGED_11_TO_13), so it can join a graph of that opset; else a
 * ModelPackageError naming what stands in the way.
 */
export function liftOpset(model: ModelProto, to: number, source: string): void {
  const from = opsetOf(model);
  if (from === to) return;
  if (from > to || from < 11 || to > 13) throw new ModelPackageError(`${source} uses ONNX opset ${from}; it cannot be brought to opset ${to} (only 11–13, upwards)`);
  const changed = [...new Set(graphOf(model).node.map((n) => n.opType ?? ''))].filter((op) => !UNCHANGED_11_TO_13.has(op));
  if (changed.length > 0) throw new ModelPackageError(`${source} uses ONNX opset ${from} and operators ${changed.join(', ')}, which opset ${to} defines differently or were not checked; re-export it with opset ${to}`);
  for (const entry of model.opsetImport ?? []) if ((entry.domain ?? '') === '' || entry.domain === 'ai.onnx') entry.version = to;
}

/** An empty model (IR 7, given opset) whose graph has one float input. */
export function emptyModel(opset: number, inputName: string, dims: readonly number[]): ModelProto {
  return onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'visor fit',
    opsetImport: [{ domain: '', version: opset }],
    graph: onnx.GraphProto.create({ name: 'visor', input: [floatValueInfo(inputName, dims)], node: [], initializer: [], output: [], valueInfo: [] }),
  });
}

export function encodeModel(model: ModelProto): Buffer {
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

/** Keep only the nodes the given outputs depend on (Constant nodes included), in the original order. */
export function pruneToOutputs(model: ModelProto, outputs: readonly string[]): void {
  const graph = graphOf(model);
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output ?? []) producer.set(o, n as NodeProto);
  const needed = new Set<NodeProto>();
  const stack = [...outputs];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const n = producer.get(t);
    if (n === undefined || needed.has(n)) continue;
    needed.add(n);
    for (const i of n.input ?? []) if (i !== '') stack.push(i);
  }
  const missing = outputs.filter((o) => !producer.has(o));
  if (missing.length > 0) {
    const sample = [...producer.keys()].slice(0, 8).map((n) => `"${n}"`).join(', ');
    throw new ModelPackageError(`the graph has no tensor named ${missing.map((m) => `"${m}"`).join(', ')} (tensor names look like ${sample}, …)`);
  }
  graph.node = graph.node.filter((n) => needed.has(n as NodeProto));
  graph.initializer = graph.initializer.filter((t) => seen.has(t.name!));
  graph.valueInfo = graph.valueInfo.filter((v) => seen.has(v.name!));
  graph.output = [];
}

/**
 * Moves every node, initializer and value of `source` into `target`'s graph, each tensor and node
 * renamed `${prefix}/${name}` except the tensors `rename` maps (e.g. the source's input onto a
 * tensor of the target). Both models must use the same default opset. `source` is consumed.
 */
export function mergeGraph(target: ModelProto, source: ModelProto, prefix: string, rename: ReadonlyMap<string, string>): void {
  if (opsetOf(target) !== opsetOf(source)) {
    throw new ModelPackageError(`cannot join graphs of ONNX opset ${opsetOf(target)} and ${opsetOf(source)} (re-export one with the other's opset)`);
  }
  const name = (t: string): string => (t === '' ? '' : (rename.get(t) ?? `${prefix}/${t}`));
  const to = graphOf(target);
  const from = graphOf(source);
  for (const [i, n] of from.node.entries()) {
    if ((n.attribute ?? []).some((a) => a.g != null || (a.graphs ?? []).length > 0)) {
      throw new ModelPackageError(`node ${n.name} (${n.opType}) has a subgraph; graphs with control flow cannot be joined`);
    }
    n.name = `${prefix}/${n.name || `${n.opType}.${i}`}`;
    n.input = (n.input ?? []).map(name);
    n.output = (n.output ?? []).map(name);
    to.node.push(n);
  }
  for (const t of from.initializer) {
    t.name = name(t.name!);
    to.initializer.push(t);
  }
  for (const v of from.valueInfo) {
    v.name = name(v.name!);
    to.valueInfo.push(v);
  }
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) throw new Error(`${name}: dims ${dims.join('x')} need ${expected} values, got ${data.length}`);
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: FLOAT, rawData: Buffer.from(raw) });
}

export function int64Tensor(name: string, values: readonly number[]): TensorProto {
  const buf = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), i * 8));
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, rawData: buf });
}

type AttrValue = number | number[] | string;
function attribute(name: string, value: AttrValue, isFloat: boolean): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: Buffer.from(value) });
  if (Array.isArray(value)) {
    return isFloat
      ? onnx.AttributeProto.create({ name, type: T.FLOATS, floats: value })
      : onnx.AttributeProto.create({ name, type: T.INTS, ints: value });
  }
  return isFloat ? onnx.AttributeProto.create({ name, type: T.FLOAT, f: value }) : onnx.AttributeProto.create({ name, type: T.INT, i: value });
}

/** Appends nodes and initializers to a graph with generated, prefixed node names. */
export function graphBuilder(model: ModelProto, prefix: string) {
  const graph = graphOf(model);
  const opset = opsetOf(model);
  let count = 0;
  let constants = 0;
  return {
    opset,
    /**
     * ReduceSum/Min/Max/Mean over `axes`: attribute before the opset where axes became an input
     * (13 for ReduceSum, 18 for the others), input from then on.
     */
    reduce(op: 'ReduceSum' | 'ReduceMin' | 'ReduceMax' | 'ReduceMean', input: string, axes: number[], keepdims: 0 | 1, output: string): string {
      const asInput = opset >= (op === 'ReduceSum' ? 13 : 18);
      if (!asInput) return this.node(op, [input], output, { axes, keepdims });
      constants += 1;
      const axesName = this.init(int64Tensor(`${prefix}.axes.${constants}`, axes));
      return this.node(op, [input, axesName], output, { keepdims });
    },
    init(t: TensorProto): string {
      graph.initializer.push(t);
      return t.name!;
    },
    /** `floatAttrs` lists attribute names whose numbers are floats (everything else is int). */
    node(opType: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}, floatAttrs: string[] = []): string {
      return this.nodeMulti(opType, inputs, [output], attrs, floatAttrs)[0]!;
    },
    /** For ops with several outputs (TopK). */
    nodeMulti(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, floatAttrs: string[] = []): string[] {
      count += 1;
      graph.node.push(
        onnx.NodeProto.create({
          name: `${prefix}.${opType}.${count}`,
          opType,
          input: inputs,
          output: outputs,
          attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v, floatAttrs.includes(k))),
        }),
      );
      return outputs;
    },
  };
}

export type GraphBuilder = ReturnType<typeof graphBuilder>;

/** Declares a graph output (or replaces the input declaration) with a fixed float shape. */
export function floatValueInfo(name: string, dims: readonly number[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
}

export const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

/** IEEE 754 half precision bits of a float (round to nearest even; no NaN handling needed here). */
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
export function toHalfBits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A float16 initializer; the graph Casts it to float so the file stays half the size. */
export function float16Tensor(name: string, dims: readonly number[], halfBits: Uint16Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== halfBits.length) throw new Error(`${name}: dims ${dims.join('x')} need ${expected} values, got ${halfBits.length}`);
  const raw = Buffer.alloc(halfBits.length * 2);
  halfBits.forEach((h, i) => raw.writeUInt16LE(h, i * 2));
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: FLOAT16, rawData: raw });
}

/** Replaces the data of a float initializer (same shape). */
export function setFloatInitializer(model: ModelProto, name: string, data: Float32Array): void {
  const t = graphOf(model).initializer.find((i) => i.name === name);
  if (t === undefined) throw new Error(`no initializer ${name}`);
  t.rawData = Buffer.from(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}
