// Reading a TensorFlow.js layers model: model.json (Keras topology + weight manifest) and
// its weight shards, with quantised weights dequantised the way tfjs does it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConvertError } from './errors.js';

/** One entry of a tfjs weight manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16' | string; min?: number; scale?: number };
}

export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** A layers model in memory: what `tf.io.fromMemory` takes. */
export interface TfjsArtifacts {
  /** Keras model topology: `{ model_config: { class_name, config } }` or `{ class_name, config }`. */
  modelTopology: unknown;
  weightSpecs: WeightSpec[];
  /** All shards concatenated in manifest order. */
  weightData: Uint8Array;
  /** Where it came from, for error messages. */
  source: string;
}

/** A dequantised weight; `quantised` keeps the uint8 codes so they can be stored compactly. */
export interface Weight {
  name: string;
  shape: number[];
  values: Float32Array;
  quantised?: { codes: Uint8Array; min: number; scale: number };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `<dir>/model.json` and every shard it names; a missing shard is an error naming it. */
export async function readTfjsModelDir(dir: string): Promise<TfjsArtifacts> {
  const jsonPath = path.join(dir, 'model.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (err) {
    throw new ConvertError(`cannot read tfjs model ${jsonPath}: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(json) || json.modelTopology === undefined || !Array.isArray(json.weightsManifest)) {
    throw new ConvertError(`${jsonPath} is not a tfjs layers model (needs modelTopology and weightsManifest)`);
  }
  const groups = json.weightsManifest as WeightGroup[];
  const parts: Uint8Array[] = [];
  for (const group of groups) {
    for (const p of group.paths) {
      const shard = path.join(dir, p);
      try {
        parts.push(await readFile(shard));
      } catch (err) {
        throw new ConvertError(`weight shard ${p} named in ${jsonPath} cannot be read: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs: groups.flatMap((g) => g.weights),
    weightData: Buffer.concat(parts),
    source: jsonPath,
  };
}

function bytesPerValue(spec: WeightSpec): number {
  const q = spec.quantization?.dtype;
  if (q === 'uint8') return 1;
  if (q === 'uint16' || q === 'float16') return 2;
  if (q !== undefined) throw new ConvertError(`weight ${spec.name}: unsupported quantisation dtype ${q}`);
  if (spec.dtype === 'float32' || spec.dtype === 'int32') return 4;
  throw new ConvertError(`weight ${spec.name}: unsupported dtype ${spec.dtype}`);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Splits the concatenated weight bytes by the manifest and dequantises (value = code * scale + min,
 * in float32 like tfjs). A file shorter than the manifest needs is an error naming the first weight
 * that does not fit.
 */
export function decodeWeights(art: TfjsArtifacts): Map<string, Weight> {
  const out = new Map<string, Weight>();
  const data = art.weightData;
  let offset = 0;
  for (const spec of art.weightSpecs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const nbytes = size * bytesPerValue(spec);
    if (offset + nbytes > data.byteLength) {
      throw new ConvertError(
        `weight data of ${art.source} is truncated: ${spec.name} needs bytes ${offset}..${offset + nbytes} but the shards hold ${data.byteLength}`,
      );
    }
    // A copy, aligned for typed-array views (Buffer#slice would share Node's pooled buffer).
    const bytes = new Uint8Array(data.subarray(offset, offset + nbytes));
    offset += nbytes;
    const values = new Float32Array(size);
    const q = spec.quantization;
    let quantised: Weight['quantised'];
    if (q?.dtype === 'uint8' || q?.dtype === 'uint16') {
      const min = q.min ?? 0;
      const scale = q.scale ?? 1;
      const codes = q.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer);
      for (let i = 0; i < size; i++) values[i] = Math.fround(codes[i]! * scale + min);
      if (q.dtype === 'uint8') quantised = { codes: bytes, min, scale };
    } else if (q?.dtype === 'float16') {
      const halves = new Uint16Array(bytes.buffer);
      for (let i = 0; i < size; i++) values[i] = halfToFloat(halves[i]!);
    } else if (spec.dtype === 'int32') {
      values.set(new Int32Array(bytes.buffer));
    } else {
      values.set(new Float32Array(bytes.buffer));
    }
    out.set(spec.name, { name: spec.name, shape: spec.shape, values, ...(quantised ? { quantised } : {}) });
  }
  if (offset < data.byteLength) {
    throw new ConvertError(`weight data of ${art.source} has ${data.byteLength - offset} bytes more than its manifest describes`);
  }
  return out;
}
