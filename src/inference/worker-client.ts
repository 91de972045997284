// An Inferencer whose session runs in a worker thread (worker.ts): the same interface as
// createInferencer's, so the line and a hot swap use either. onnxruntime-node's session.run
// occupies the calling JS thread while the model works; in a worker it does not hold up the
// line's event loop (camera pipes, SQLite, the review API).
import { Worker } from 'node:worker_threads';
import { ModelPackageError, VisorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { RawImage } from '../common/types.js';
import { ExecutionProviderError, createInferencer, type InferenceResult, type Inferencer, type InferencerDeps } from './session.js';
import type { FromWorker, ToWorker, WorkerError, WorkerInit } from './worker.js';
import { workerEntry } from '../common/worker-entry.js';

function fromWorkerError(e: WorkerError): Error {
  if (e.name === 'ModelPackageError' || e.code === 'MODEL_PACKAGE') return new ModelPackageError(e.message);
  if (e.code === 'EXECUTION_PROVIDER_UNAVAILABLE') return new ExecutionProviderError(e.message);
  if (e.name === 'RangeError') return new RangeError(e.message);
  return new VisorError(e.code ?? 'INFERENCE_FAILED', e.message);
}


/** The line's inferencer: in a worker thread (default) or on the calling thread. */
export function openInferencer(deps: InferencerDeps & { worker?: boolean }): Promise<Inferencer> {
  const { worker, ...rest } = deps;
  return (worker ?? true) ? createWorkerInferencer(rest) : createInferencer(rest);
}

export async function createWorkerInferencer(deps: InferencerDeps): Promise<Inferencer> {
  const { pkg } = deps;
  const log: Logger = deps.log.child({ module: 'inference', model: pkg.manifest.name, version: pkg.manifest.version });
  const init: WorkerInit = { dir: pkg.dir, ...(deps.executionProviders ? { executionProviders: deps.executionProviders } : {}), ...(deps.threads !== undefined ? { threads: deps.threads } : {}) };
  const { url, execArgv } = workerEntry(import.meta.url, 'worker');
  const started = performance.now();
  const worker = new Worker(url, { workerData: init, execArgv, name: `inference ${pkg.manifest.name}` });

  const pending = new Map<number, { resolve: (r: InferenceResult | undefined) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  let closed = false;
  let exited: Error | undefined;
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((r) => (resolveClosed = r));

  const ready = new Promise<Extract<FromWorker, { op: 'ready' }>>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'ready') resolve(m);
      else if (m.op === 'failed') reject(fromWorkerError(m.error));
      else if (m.op === 'result') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        p?.resolve(m.result);
      } else if (m.op === 'error') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        p?.reject(fromWorkerError(m.error));
      }
    });
    worker.on('error', (err) => {
      exited = err;
      reject(err);
    });
    worker.on('exit', (code) => {
      exited ??= new VisorError('INFERENCE_WORKER_EXITED', `the inference worker of ${pkg.manifest.name} exited (code ${code})`, { retryable: true });
      for (const p of pending.values()) p.reject(exited);
      pending.clear();
      resolveClosed();
      reject(exited);
    });
  });

  let info: Extract<FromWorker, { op: 'ready' }>;
  try {
    info = await ready;
  } catch (err) {
    await worker.terminate().catch(() => undefined);
    throw err;
  }
  log.info({ providers: deps.executionProviders ?? ['cpu'], threads: deps.threads ?? 0, worker: true, startMs: Math.round(performance.now() - started) }, 'model loaded');

  const call = (message: ToWorker & { id: number }, transfer: ArrayBuffer[]): Promise<InferenceResult | undefined> => {
    if (closed) return Promise.reject(new VisorError('INFERENCER_CLOSED', `inferencer for ${pkg.manifest.name} is closed`));
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      pending.set(message.id, { resolve, reject });
      worker.postMessage(message, transfer);
    });
  };

  return {
    manifest: info.manifest,
    inputSize: info.inputSize,
    geometry: info.geometry,
    inFlight: 2,
    async infer(image: RawImage) {
      // A copy of the pixels travels (the frame's buffer belongs to the camera's pool).
      const data = new Uint8Array(image.data.length);
      data.set(image.data);
      const copy: RawImage = { width: image.width, height: image.height, pixelFormat: image.pixelFormat, data: Buffer.from(data.buffer) };
      const result = await call({ op: 'infer', id: nextId++, image: copy }, [data.buffer]);
      const heat = result!.output.heatMap;
      // Structured clone turns the Buffer-free parts back into plain objects; the heat map stays a Float32Array.
      return heat ? { ...result!, output: { ...result!.output, heatMap: { width: heat.width, height: heat.height, data: heat.data } } } : result!;
    },
    async runRaw(input: Float32Array) {
      await call({ op: 'raw', id: nextId++, input }, []);
    },
    async close() {
      if (closed) return closedPromise;
      closed = true;
      // Calls in flight finish first: the worker's session closes after its queue of runs.
      worker.postMessage({ op: 'close' } satisfies ToWorker);
      await closedPromise;
    },
  };
}
