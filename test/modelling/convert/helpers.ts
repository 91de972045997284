// Reference outputs from TensorFlow.js itself (pure-JS CPU backend), and small synthetic tfjs
// layers models written to temp folders as model.json + weights.bin.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { TfjsArtifacts, WeightSpec } from '../../../src/modelling/convert/index.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixturesDir = path.join(repoRoot, 'test/fixtures/elpv');

/** NHWC and NCHW float tensors of one image: resized to size×size RGB, then (p*scale - mean)/std. */
export async function imageTensors(
  file: string,
  size: number,
  norm: { scale: number; mean: number[]; std: number[] },
): Promise<{ nhwc: Float32Array; nchw: Float32Array }> {
  const { data } = await sharp(file).resize(size, size).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const plane = size * size;
  const nhwc = new Float32Array(plane * 3);
  const nchw = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (data[p * 3 + c]! * norm.scale - norm.mean[c % norm.mean.length]!) / norm.std[c % norm.std.length]!;
      nhwc[p * 3 + c] = v;
      nchw[c * plane + p] = v;
    }
  }
  return { nhwc, nchw };
}

/** Runs the tfjs layers model cut at `layers`; returns each output as NCHW (or as is for rank 2). */
export async function tfjsOutputs(
  art: TfjsArtifacts,
  layers: readonly string[],
  input: { data: Float32Array; size: number },
): Promise<Map<string, { data: Float32Array; dims: number[] }>> {
  tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner
  await tf.setBackend('cpu');
  // The Keras input is fixed-size; give it the size we run at.
  const topology = JSON.parse(JSON.stringify(art.modelTopology).replace(/"batch_input_shape":\[null,\d+,\d+,(\d+)\]/, `"batch_input_shape":[null,${input.size},${input.size},$1]`));
  const buf = art.weightData.buffer.slice(art.weightData.byteOffset, art.weightData.byteOffset + art.weightData.byteLength) as ArrayBuffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: art.weightSpecs as tf.io.WeightsManifestEntry[], weightData: buf }));
  const cut = tf.model({ inputs: model.inputs, outputs: layers.map((n) => model.getLayer(n).output as tf.SymbolicTensor) });
  const x = tf.tensor4d(input.data, [1, input.size, input.size, input.data.length / (input.size * input.size)]);
  const ys = [cut.predict(x)].flat() as tf.Tensor[];
  const out = new Map<string, { data: Float32Array; dims: number[] }>();
  ys.forEach((y, k) => {
    const d = y.dataSync() as Float32Array;
    if (y.shape.length !== 4) {
      out.set(layers[k]!, { data: Float32Array.from(d), dims: y.shape as number[] });
      return;
    }
    const [, H, W, C] = y.shape as number[];
    const t = new Float32Array(d.length);
    for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) for (let c = 0; c < C!; c++) t[(c * H! + h) * W! + w] = d[(h * W! + w) * C! + c]!;
    out.set(layers[k]!, { data: t, dims: [1, C!, H!, W!] });
  });
  tf.dispose([x, ...ys]);
  model.dispose();
  return out;
}

export async function onnxOutputs(
  onnx: Uint8Array,
  inputName: string,
  layers: readonly string[],
  input: { data: Float32Array; size: number },
): Promise<Map<string, { data: Float32Array; dims: number[] }>> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    const c = input.data.length / (input.size * input.size);
    const res = await session.run({ [inputName]: new ort.Tensor('float32', input.data, [1, c, input.size, input.size]) }, [...layers]);
    return new Map(layers.map((l) => [l, { data: res[l]!.data as Float32Array, dims: [...res[l]!.dims] }]));
  } finally {
    await session.release();
  }
}

/** Largest absolute difference, and the largest absolute reference value (for a relative view). */
export function maxDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return { diff, scale };
}

// ---------- synthetic tfjs models ----------

/** Deterministic pseudo-random numbers: the fit's own seeded generator. */
export const seeded = seededRandom;

export interface SyntheticLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inputs: string[];
  /** param name → shape; values are random (variances positive). */
  weights?: Record<string, number[]>;
}

/** A Keras functional topology + weights; `quantise` stores every weight as uint8 with min/scale. */
export function syntheticModel(layers: SyntheticLayer[], opts: { seed?: number; quantise?: boolean } = {}): TfjsArtifacts {
  const rnd = seeded(opts.seed ?? 1);
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const l of layers) {
    for (const [param, shape] of Object.entries(l.weights ?? {})) {
      const n = shape.reduce((a, b) => a * b, 1);
      const positive = param === 'moving_variance' || param === 'gamma';
      const v = Float32Array.from({ length: n }, () => (positive ? 0.5 + rnd() : rnd() * 2 - 1) * (param === 'moving_mean' ? 0.3 : 1));
      const spec: WeightSpec = { name: `${l.name}/${param}`, shape, dtype: 'float32' };
      if (opts.quantise) {
        let min = Infinity;
        let max = -Infinity;
        for (const x of v) [min, max] = [Math.min(min, x), Math.max(max, x)];
        const scale = (max - min) / 255 || 1;
        spec.quantization = { dtype: 'uint8', min, scale };
        chunks.push(Uint8Array.from(v, (x) => Math.round((x - min) / scale)));
      } else {
        chunks.push(new Uint8Array(v.buffer));
      }
      specs.push(spec);
    }
  }
  const modelTopology = {
    keras_version: '2.2.4',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Model',
      config: {
        name: 'synthetic',
        layers: layers.map((l) => ({
          name: l.name,
          class_name: l.class_name,
          config: { name: l.name, ...l.config },
          inbound_nodes: l.inputs.length === 0 ? [] : [l.inputs.map((i) => [i, 0, 0, {}])],
        })),
        input_layers: [[layers[0]!.name, 0, 0]],
        // Every layer nobody consumes is a model output, so tfjs builds dangling branches too.
        output_layers: layers.filter((l) => !layers.some((m) => m.inputs.includes(l.name))).map((l) => [l.name, 0, 0]),
      },
    },
  };
  return { modelTopology, weightSpecs: specs, weightData: Buffer.concat(chunks), source: 'synthetic' };
}

/** Writes a model as model.json + `shards` weight files (split evenly) to a new temp folder. */
export async function writeTfjsDir(art: TfjsArtifacts, shards = 1): Promise<{ dir: string; paths: string[]; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'visor-convert-'));
  const paths = Array.from({ length: shards }, (_, i) => `group1-shard${i + 1}of${shards}.bin`);
  const per = Math.ceil(art.weightData.byteLength / shards);
  for (let i = 0; i < shards; i++) await writeFile(path.join(dir, paths[i]!), art.weightData.subarray(i * per, (i + 1) * per));
  await writeFile(
    path.join(dir, 'model.json'),
    JSON.stringify({ format: 'layers-model', modelTopology: art.modelTopology, weightsManifest: [{ paths, weights: art.weightSpecs }] }),
  );
  return { dir, paths, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
