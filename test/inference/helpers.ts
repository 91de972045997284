// Real, tiny ONNX graphs built with onnx-proto, and model packages written to temp folders.
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { ModelManifest } from '../../src/inference/manifest.js';
import type { RawImage } from '../../src/common/types.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

type Dim = number | string;

function valueInfo(name: string, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function floatTensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, floatData: values };
}

function encodeModel(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'visor-tests',
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface AnomalyModelOptions {
  inputName?: string;
  inputDims?: Dim[];
  /** Pooling window; the heat map is (size / pool) square. */
  pool?: number;
  scoreName?: string;
  heatmapName?: string;
  /** A free batch dimension: input [N,3,S,S], heat map [N,1,S/p,S/p], score [N] (one per image). */
  batch?: boolean;
}

/** x [1,3,S,S] → heatmap = AveragePool(ReduceMean over channels) [1,1,S/p,S/p], score = ReduceMax(heatmap). */
export function anomalyModel(opts: AnomalyModelOptions = {}): Uint8Array {
  const x = opts.inputName ?? 'x';
  const pool = opts.pool ?? 4;
  const dims = opts.inputDims ?? (opts.batch ? ['N', 3, 32, 32] : [1, 3, 32, 32]);
  const hmName = opts.heatmapName ?? 'heatmap';
  const scoreName = opts.scoreName ?? 'score';
  const side = typeof dims[2] === 'number' ? dims[2] / pool : 'h';
  return encodeModel({
    name: 'anomaly',
    node: [
      { opType: 'ReduceMean', input: [x], output: ['mean'], attribute: [{ name: 'axes', type: INTS, ints: [1] }, { name: 'keepdims', type: INT, i: 1 }] },
      { opType: 'AveragePool', input: ['mean'], output: [hmName], attribute: [{ name: 'kernel_shape', type: INTS, ints: [pool, pool] }, { name: 'strides', type: INTS, ints: [pool, pool] }] },
      {
        opType: 'ReduceMax',
        input: [hmName],
        output: [scoreName],
        attribute: [{ name: 'keepdims', type: INT, i: 0 }, ...(opts.batch ? [{ name: 'axes', type: INTS, ints: [1, 2, 3] }] : [])],
      },
    ],
    input: [valueInfo(x, dims)],
    output: [valueInfo(hmName, [opts.batch ? 'N' : 1, 1, side, side]), valueInfo(scoreName, opts.batch ? ['N'] : [])],
  });
}

/** x [1,3,32,32] → GlobalAveragePool → Flatten → MatMul(weights [3, classes]) → logits [1, classes]. */
export function classificationModel(weights: number[][], opts: { dynamicLogits?: boolean } = {}): Uint8Array {
  const classes = weights[0]!.length;
  // Compress with an all-true mask keeps every logit but hides their count from shape inference,
  // like a graph exported with a dynamic class axis.
  const dynamic = opts.dynamicLogits === true;
  return encodeModel({
    name: 'classification',
    node: [
      { opType: 'GlobalAveragePool', input: ['x'], output: ['pooled'] },
      { opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [{ name: 'axis', type: INT, i: 1 }] },
      { opType: 'MatMul', input: ['flat', 'w'], output: [dynamic ? 'all' : 'logits'] },
      ...(dynamic ? [{ opType: 'Compress', input: ['all', 'keep'], output: ['logits'], attribute: [{ name: 'axis', type: INT, i: 1 }] }] : []),
    ],
    initializer: [
      floatTensor('w', [3, classes], weights.flat()),
      ...(dynamic ? [{ name: 'keep', dims: [classes], dataType: onnx.TensorProto.DataType.BOOL, int32Data: new Array<number>(classes).fill(1) }] : []),
    ],
    input: [valueInfo('x', [1, 3, 32, 32])],
    output: [valueInfo('logits', [1, dynamic ? 'classes' : classes])],
  });
}

/** Emits a fixed tensor (dims/values) as "detections"; the input is multiplied by 0 and added so it is used. */
export function constantDetectionModel(dims: number[], values: number[], inputSize = 64): Uint8Array {
  return encodeModel({
    name: 'detection',
    node: [
      { opType: 'ReduceMax', input: ['x'], output: ['m'], attribute: [{ name: 'keepdims', type: INT, i: 0 }] },
      { opType: 'Mul', input: ['m', 'zero'], output: ['z'] },
      { opType: 'Add', input: ['fixed', 'z'], output: ['detections'] },
    ],
    initializer: [floatTensor('fixed', dims, values), floatTensor('zero', [], [0])],
    input: [valueInfo('x', [1, 3, inputSize, inputSize])],
    output: [valueInfo('detections', dims)],
  });
}

export function baseManifest(task: ModelManifest['task'], overrides: Partial<ModelManifest> = {}): ModelManifest {
  const size = task === 'detection' ? 64 : 32;
  return {
    name: `test-${task}`,
    version: '1.0.0',
    task,
    input: { name: 'x', width: size, height: size, layout: 'NCHW', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    outputs: task === 'anomaly' ? { score: 'score', heatmap: 'heatmap' } : task === 'classification' ? { logits: 'logits' } : { detections: 'detections' },
    labels: task === 'classification' ? ['good', 'crack', 'finger'] : task === 'detection' ? ['good', 'crack'] : [],
    thresholds: { defect: 0.5, uncertainBand: 0.1 },
    sha256: '0'.repeat(64),
    ...overrides,
  };
}

export const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export interface TempDirs {
  make(prefix?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export function tempDirs(): TempDirs {
  const made: string[] = [];
  return {
    async make(prefix = 'visor-inference-') {
      const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    async cleanup() {
      await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/**
 * Writes model.onnx and model.json into `dir/name`; the manifest's sha256 is the real one unless
 * `manifest` sets it. `manifest` may be any JSON (to test invalid manifests) or raw text.
 */
export async function writePackage(dir: string, onnxBytes: Uint8Array | undefined, manifest: object | string, name = 'pkg'): Promise<string> {
  const pkgDir = path.join(dir, name);
  await mkdir(pkgDir, { recursive: true });
  if (onnxBytes) await writeFile(path.join(pkgDir, 'model.onnx'), onnxBytes);
  let text: string;
  if (typeof manifest === 'string') {
    text = manifest;
  } else {
    const m = { ...manifest } as Record<string, unknown>;
    if (onnxBytes && (m.sha256 === undefined || m.sha256 === '0'.repeat(64))) m.sha256 = sha256(onnxBytes);
    text = JSON.stringify(m, null, 2);
  }
  await writeFile(path.join(pkgDir, 'model.json'), text);
  return pkgDir;
}

/** An rgb24 image whose every pixel is `pixel(x, y)`. */
export function rgbImage(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): RawImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const i = (y * width + x) * 3;
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
    }
  }
  return { width, height, pixelFormat: 'rgb24', data };
}
