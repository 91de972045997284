// The inference worker thread: one model session, off the JS thread the line runs on, so the
// event loop stays free for reading the cameras' pipes, SQLite and the API while the model
// works. Started by createWorkerInferencer (worker-client.ts); it speaks the messages below.
import { parentPort, workerData } from 'node:worker_threads';
import { silentLogger } from '../common/log.js';
import type { RawImage } from '../common/types.js';
import { loadModelPackage } from './package.js';
import { createInferencer, type InferenceResult, type Inferencer } from './session.js';

export interface WorkerInit {
  dir: string;
  executionProviders?: string[];
  threads?: number;
}

export type ToWorker =
  | { op: 'infer'; id: number; image: RawImage }
  | { op: 'raw'; id: number; input: Float32Array }
  | { op: 'close' };

export interface WorkerError {
  name: string;
  code?: string;
  message: string;
}

export type FromWorker =
  | { op: 'ready'; manifest: Inferencer['manifest']; inputSize: Inferencer['inputSize']; geometry: Inferencer['geometry'] }
  | { op: 'failed'; error: WorkerError }
  | { op: 'result'; id: number; result?: InferenceResult }
  | { op: 'error'; id: number; error: WorkerError }
  | { op: 'closed' };

function toWorkerError(err: unknown): WorkerError {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}

const port = parentPort!;
const init = workerData as WorkerInit;
const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let inferencer: Inferencer;
try {
  // The line logs the model's loading itself, from the ready message.
  inferencer = await createInferencer({ pkg: await loadModelPackage(init.dir), executionProviders: init.executionProviders, threads: init.threads, log: silentLogger() });
  send({ op: 'ready', manifest: inferencer.manifest, inputSize: inferencer.inputSize, geometry: inferencer.geometry });
} catch (err) {
  send({ op: 'failed', error: toWorkerError(err) });
  port.close();
  throw err;
}

port.on('message', (message: ToWorker) => {
  if (message.op === 'close') {
    void inferencer.close().finally(() => {
      send({ op: 'closed' });
      port.close();
    });
    return;
  }
  // Structured clone delivers a Buffer as a plain Uint8Array: view it as a Buffer again.
  const run =
    message.op === 'infer'
      ? inferencer.infer({ ...message.image, data: Buffer.from(message.image.data.buffer, message.image.data.byteOffset, message.image.data.length) })
      : inferencer.runRaw(message.input).then(() => undefined);
  run.then(
    (result) => {
      // The heat map's values travel without a copy.
      const data = result?.output.heatMap?.data;
      const own = data && data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      send({ op: 'result', id: message.id, ...(result ? { result } : {}) }, own ? [data.buffer as ArrayBuffer] : []);
    },
    (err: unknown) => send({ op: 'error', id: message.id, error: toWorkerError(err) }),
  );
});
