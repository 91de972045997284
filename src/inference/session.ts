// onnxruntime session for one model package: explicit execution providers, graph checked
// against the manifest and a warm-up run, all at start-up so a bad package never sees a frame.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { ModelPackageError, VisorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ModelOutput, RawImage } from '../common/types.js';
import type { ModelManifest } from './manifest.js';
import type { Geometry, Size } from '../common/geometry.js';
import { channelCount, geometryOf, type ModelPackage } from './package.js';
import { createPostprocessor, detectionLayout, detectionLayoutHint, detectionLayoutText, detectionRowLength, type OutputTensor, type OutputTensors } from './postprocess.js';
import { createPreprocessor } from './preprocess.js';
import { mergeTiles, tileOfBatch } from './tiles.js';

export interface InferencerDeps {
  pkg: ModelPackage;
  /** Config names ('cpu' | 'cuda' | 'tensorrt' | 'dml' | 'coreml'), in order of preference. Default ['cpu']. */
  executionProviders?: string[];
  /** Intra-op threads; 0 or absent lets onnxruntime decide. */
  threads?: number;
  /** Hand back the graph's raw outputs with every result (for `visor model check`); off on the line. */
  keepOutputs?: boolean;
  log: Logger;
}

export interface InferenceResult {
  output: ModelOutput;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** The graph outputs of the run (of the last tile), when the inferencer was made with keepOutputs. */
  outputs?: OutputTensors;
}

export interface Inferencer {
  readonly manifest: ModelManifest;
  /** The model input (one tile). */
  readonly inputSize: Size;
  /** How an image becomes model input; `geometry.frame` is the size capture should deliver frames at. */
  readonly geometry: Geometry;
  /**
   * Frames the line may hand over at once (default 1). A worker's session takes 2: the next
   * frame waits in the worker while the model runs, so the model does not idle while the line's
   * thread hands it over.
   */
  readonly inFlight?: number;
  /** Scores one image: brought to the frame, cut into tiles, each tile scored, merged (tiles.ts). */
  infer(image: RawImage): Promise<InferenceResult>;
  /** bare session.run on an already prepared input (one tile), for benchmarks */
  runRaw(input: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** Config name → onnxruntime-node backend name, and the native provider name for messages. */
const PROVIDERS: Record<string, { ort: string; native: string }> = {
  cpu: { ort: 'cpu', native: 'CPUExecutionProvider' },
  cuda: { ort: 'cuda', native: 'CUDAExecutionProvider' },
  tensorrt: { ort: 'tensorrt', native: 'TensorrtExecutionProvider' },
  dml: { ort: 'dml', native: 'DmlExecutionProvider' },
  coreml: { ort: 'coreml', native: 'CoreMLExecutionProvider' },
};

export class ExecutionProviderError extends VisorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EXECUTION_PROVIDER_UNAVAILABLE', message, options);
  }
}

export function mapExecutionProviders(names: readonly string[]): string[] {
  if (names.length === 0) throw new ExecutionProviderError('no execution provider configured (use at least "cpu")');
  const unknown = names.filter((n) => !(n in PROVIDERS));
  if (unknown.length > 0) {
    throw new ExecutionProviderError(`unknown execution provider ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${Object.keys(PROVIDERS).join(', ')})`);
  }
  // Providers this onnxruntime-node build cannot even attempt fail here with a clear list.
  const supported = ort.listSupportedBackends().map((b) => b.name);
  const missing = names.filter((n) => !supported.includes(PROVIDERS[n]!.ort));
  if (missing.length > 0) {
    throw new ExecutionProviderError(
      `execution provider ${missing.map((n) => `"${n}" (${PROVIDERS[n]!.native})`).join(', ')} is not available on this platform (onnxruntime-node here offers: ${supported.join(', ')})`,
    );
  }
  return names.map((n) => PROVIDERS[n]!.ort);
}

/**
 * Intra-op threads for the line's model when `model.threads` is 0: the cores less one for
 * the event loop (camera pipes, SQLite, the API) and a tenth of a core per camera for its
 * ffmpeg (decode, scale and the full-resolution copy at 720p and 10 fps), at least one.
 * Measured on 2 cores (README, Performance): a second thread made each run twice as slow.
 */
export function lineThreads(cameras: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores - 1 - cameras / 10));
}

export async function createInferencer(deps: InferencerDeps): Promise<Inferencer> {
  const { pkg } = deps;
  const manifest = pkg.manifest;
  const names = deps.executionProviders ?? ['cpu'];
  const log = deps.log.child({ module: 'inference', model: manifest.name, version: manifest.version });
  const providers = mapExecutionProviders(names);

  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    // Errors come back as exceptions; onnxruntime's own warnings would only duplicate them on stderr.
    logSeverityLevel: 3,
    // Inter-op threads only run independent branches of a graph at once; the models here are
    // chains, and the line runs one session.run at a time: one thread, no parallel executor.
    executionMode: 'sequential',
    interOpNumThreads: 1,
  };
  if (deps.threads && deps.threads > 0) options.intraOpNumThreads = deps.threads;

  const session = await openSession(pkg, options, names);
  try {
    validateGraph(manifest, session);
  } catch (err) {
    await session.release().catch(() => undefined);
    throw err;
  }

  const geometry = geometryOf(manifest);
  const pre = createPreprocessor(manifest.input, geometry);
  const post = createPostprocessor(manifest);
  const tileSize = pre.data.length / pre.tiles;
  // A graph with a free batch dimension scores all tiles in one run; a fixed [1,…] one, tile by tile.
  const batchDim = session.inputMetadata.find((m) => m.name === manifest.input.name);
  const batched = pre.tiles > 1 && batchDim?.isTensor === true && typeof batchDim.shape[0] === 'string';
  const feeds = batched
    ? [new ort.Tensor('float32', pre.data, [pre.tiles, ...pre.dims.slice(1)])]
    : Array.from({ length: pre.tiles }, (_, t) => new ort.Tensor('float32', pre.data.subarray(t * tileSize, (t + 1) * tileSize), [...pre.dims]));
  const fetches = outputNames(manifest);

  const run = async (feed: ort.Tensor): Promise<OutputTensors> => {
    const results = await session.run({ [manifest.input.name]: feed }, fetches);
    const out: Record<string, OutputTensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = outputTensor(name, value);
    return out;
  };
  /** Runs every tile and merges their outputs; `runMs` is the time inside session.run. */
  const runTiles = async (): Promise<{ output: ModelOutput; runMs: number; raw: OutputTensors }> => {
    const outputs: ModelOutput[] = [];
    let runMs = 0;
    let raw: OutputTensors = {};
    if (batched) {
      const t0 = performance.now();
      raw = await run(feeds[0]!);
      runMs = performance.now() - t0;
      for (let t = 0; t < pre.tiles; t++) outputs.push(post(tileOfBatch(raw, t, pre.tiles)));
    } else {
      for (const feed of feeds) {
        const t0 = performance.now();
        raw = await run(feed);
        runMs += performance.now() - t0;
        outputs.push(post(raw));
      }
    }
    return { output: mergeTiles(outputs, geometry, manifest.input), runMs, raw };
  };

  // Warm-up with a zero input: allocates buffers, and output shapes that only show at run time
  // (dynamic dims) are checked by the post-processor now rather than on the first frame.
  const warmStart = performance.now();
  try {
    await runTiles();
  } catch (err) {
    await session.release().catch(() => undefined);
    if (err instanceof ModelPackageError) throw new ModelPackageError(`${pkg.dir}: ${err.message}`, { cause: err });
    throw new ModelPackageError(`${pkg.dir}: warm-up run of model.onnx failed: ${errorMessage(err)}`, { cause: err });
  }
  log.info(
    { task: manifest.task, providers: names, threads: deps.threads ?? 0, input: pre.dims, tiles: pre.tiles, batched, outputs: fetches, warmupMs: Math.round(performance.now() - warmStart) },
    'model loaded',
  );

  // One session.run at a time per inferencer: the input buffer is shared between cameras.
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const serialize = <T>(task: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new VisorError('INFERENCER_CLOSED', `inferencer for ${manifest.name} is closed`));
    const p = chain.then(task);
    chain = p.catch(() => undefined);
    return p;
  };

  return {
    manifest,
    inputSize: { width: manifest.input.width, height: manifest.input.height },
    geometry,
    infer(image) {
      return serialize(async () => {
        const t0 = performance.now();
        await pre.run(image);
        const t1 = performance.now();
        const { output, runMs, raw } = await runTiles();
        const t2 = performance.now();
        const result: InferenceResult = { output, preprocessMs: t1 - t0, inferenceMs: runMs, postprocessMs: t2 - t1 - runMs };
        if (deps.keepOutputs) result.outputs = raw;
        return result;
      });
    },
    runRaw(input) {
      if (input.length !== tileSize) {
        return Promise.reject(new RangeError(`input has ${input.length} values, the model needs ${tileSize} (${pre.dims.join('x')})`));
      }
      return serialize(async () => {
        await run(new ort.Tensor('float32', input, [...pre.dims]));
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await chain;
      await session.release();
    },
  };
}

async function openSession(pkg: ModelPackage, options: ort.InferenceSession.SessionOptions, names: string[]): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(pkg.onnxPath, options);
  } catch (err) {
    const accelerators = names.filter((n) => n !== 'cpu');
    if (accelerators.length > 0) {
      // Tell a provider that cannot start (missing CUDA libraries, no GPU) from a broken model:
      // if the CPU alone can open the model, the provider is the problem.
      const cpuOnly = await ort.InferenceSession.create(pkg.onnxPath, { ...options, executionProviders: ['cpu'] }).catch(() => undefined);
      if (cpuOnly) {
        await cpuOnly.release().catch(() => undefined);
        throw new ExecutionProviderError(
          `execution provider ${accelerators.map((n) => `"${n}" (${PROVIDERS[n]!.native})`).join(', ')} could not be started: ${firstLine(err)}. ` +
            'Install its runtime libraries and drivers, or remove it from model.executionProviders (Visor does not fall back silently).',
          { cause: err },
        );
      }
    }
    throw new ModelPackageError(`${pkg.onnxPath} could not be loaded by onnxruntime: ${firstLine(err)}`, { cause: err });
  }
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]!.trim();
}

/**
 * One onnxruntime output as numbers: float32/float64/int/bool tensors as they are, int64 (BigInt)
 * and float16 converted, so exporters' class ids (int64), masks (bool) and half-precision graphs
 * read like float32 ones. Strings, sequences and maps cannot be scores: named as such.
 */
export function outputTensor(name: string, value: ort.Tensor): OutputTensor {
  const data = value.data as unknown;
  switch (value.type) {
    case 'int64':
    case 'uint64':
      return { dims: value.dims, data: Float64Array.from(data as BigInt64Array, Number) };
    case 'float16':
      // onnxruntime-node hands float16 as raw bits (Uint16Array) where the platform has no Float16Array.
      return { dims: value.dims, data: data instanceof Uint16Array ? Float32Array.from(data, halfToFloat) : (data as ArrayLike<number>) };
    case 'string':
      throw new ModelPackageError(`graph output "${name}" is a string tensor; Visor reads numeric outputs (scores, maps, boxes)`);
    default:
      return { dims: value.dims, data: data as ArrayLike<number> };
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** The outputs the task reads, in manifest order. */
function outputNames(manifest: ModelManifest): string[] {
  const o = manifest.outputs;
  switch (manifest.task) {
    case 'anomaly':
      return [o.score, o.heatmap ?? o.mask].filter((n): n is string => n !== undefined);
    case 'classification':
      return [o.logits!];
    case 'detection':
      return [o.detections!, o.prototypes, o.classes].filter((n): n is string => n !== undefined);
  }
}

const quote = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ') || '(none)';
const dimsText = (shape: ReadonlyArray<number | string>) => `[${shape.join(',')}]`;

/** Throws a ModelPackageError listing every way the graph disagrees with model.json. */
export function validateGraph(
  manifest: ModelManifest,
  session: Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>,
): void {
  const issues: string[] = [];
  const input = manifest.input;

  const inputMeta = session.inputMetadata.find((m) => m.name === input.name);
  if (!inputMeta) {
    issues.push(`model.json input "${input.name}" is not in the graph (graph inputs: ${quote(session.inputNames)})`);
  } else if (!inputMeta.isTensor) {
    issues.push(`graph input "${input.name}" is not a tensor`);
  } else {
    if (inputMeta.type !== 'float32') issues.push(`graph input "${input.name}" is ${inputMeta.type} but Visor feeds float32`);
    const shape = inputMeta.shape;
    const planes = channelCount(input.channels);
    const expected = [1, planes, input.height, input.width];
    const agrees = shape.length === 0 || (shape.length === 4 && shape.every((d, i) => typeof d === 'string' || d === expected[i]));
    if (!agrees) {
      const nhwc = shape.length === 4 && (shape[3] === 3 || shape[3] === 1) && shape[1] !== planes;
      issues.push(
        `model.json input "${input.name}" is ${dimsText(expected)} (NCHW: 1, ${planes} for ${input.channels}, height ${input.height}, width ${input.width}) ` +
          `but the graph input is ${dimsText(shape)}${nhwc ? ' (channels last, NHWC: Visor feeds NCHW; export with channels first)' : ''}`,
      );
    }
  }
  const extraInputs = session.inputNames.filter((n) => n !== input.name);
  if (extraInputs.length > 0) issues.push(`the graph has inputs ${quote(extraInputs)} that model.json does not describe (Visor feeds only "${input.name}")`);

  for (const [role, name] of Object.entries(manifest.outputs)) {
    if (name !== undefined && !session.outputNames.includes(name)) {
      issues.push(`model.json output ${role} "${name}" is not in the graph (graph outputs: ${quote(session.outputNames)})`);
    } else if (name !== undefined && session.outputMetadata.find((m) => m.name === name)?.isTensor === false) {
      issues.push(
        `graph output ${role} "${name}" is not a tensor (a sequence or map, like Custom Vision's ZipMap output); onnxruntime-node reads tensors only: \`visor model init\` exposes the tensor behind it`,
      );
    }
  }

  const meta = (name: string | undefined) => {
    const m = session.outputMetadata.find((x) => x.name === name);
    return m?.isTensor ? m : undefined;
  };
  if (manifest.task === 'classification') {
    const m = meta(manifest.outputs.logits);
    const last = m?.shape[m.shape.length - 1];
    if (typeof last === 'number' && last !== manifest.labels.length) {
      issues.push(
        `graph output "${m!.name}" ${dimsText(m!.shape)} has ${last} classes but model.json lists ${manifest.labels.length} labels (${manifest.labels.join(', ')})`,
      );
    }
  }
  if (manifest.task === 'detection') {
    const m = meta(manifest.outputs.detections);
    const format = manifest.detection?.format ?? 'yolov8';
    const protoShape = meta(manifest.outputs.prototypes)?.shape;
    const coefficients = manifest.outputs.prototypes ? protoShape?.[1] : 0;
    const nc = manifest.labels.length;
    if (m && m.shape.length !== 0 && typeof coefficients === 'number') {
      const k = detectionRowLength(format, nc, coefficients);
      // A free dimension fits anything; fixed ones must fit the format.
      const dims = m.shape.map((d) => (typeof d === 'number' ? d : -1));
      const free = dims.includes(-1);
      const fits = m.shape.length === 3 && (free ? dims.slice(1).some((d) => d === k || d === -1) : detectionLayout(dims, format, k) !== undefined);
      if (!fits) issues.push(`graph output "${m.name}" is ${dimsText(m.shape)} but ${detectionLayoutText(format, nc, coefficients)}${free ? '' : detectionLayoutHint(dims, nc, coefficients)}`);
    }
  }
  if (manifest.task === 'anomaly' && manifest.outputs.heatmap) {
    const m = meta(manifest.outputs.heatmap);
    if (m && m.shape.length !== 0 && (m.shape.length < 2 || m.shape.length > 4)) {
      issues.push(`graph output "${m.name}" is ${dimsText(m.shape)}; a heat map must be [1,1,h,w], [1,h,w] or [h,w]`);
    }
  }

  if (issues.length > 0) {
    throw new ModelPackageError(`model.json and model.onnx of ${manifest.name} ${manifest.version} disagree:\n  ${issues.join('\n  ')}`);
  }
}
