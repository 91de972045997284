// A line without cameras or model: the real store, bus, metrics, health registry and upload
// extension, fed with inspections saved directly (what the pipeline would save).
import { Writable } from 'node:stream';
import path from 'node:path';
import type { BlobClient } from '@azure/storage-blob';
import sharp from 'sharp';
import type { AppContext } from '../../src/line/extension.js';
import { createSamplingPolicy } from '../../src/line/sampling.js';
import { createBus } from '../../src/line/bus.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { createHealthRegistry } from '../../src/line/health.js';
import { createLogger, silentLogger, type Logger } from '../../src/common/log.js';
import { createMetrics } from '../../src/line/metrics.js';
import { openStore } from '../../src/store/index.js';
import type { Inspection, Verdict } from '../../src/common/types.js';
import { createUploadExtension, type UploadExtension, type UploadExtensionOptions } from '../../src/upload/index.js';
import { makeInspection } from '../helpers/inspection.js';
import { FIXTURES } from '../helpers/paths.js';

export { until } from '../helpers/wait.js';

/**
 * A JSON blob read with one GET, as `visor dataset pull` reads. (downloadToBuffer asks for the
 * size first and then reads that many bytes, so a blob rewritten in between comes back cut.)
 */
export async function readJsonBlob(blob: BlobClient): Promise<Record<string, any>> {
  const response = await blob.download();
  const chunks: Buffer[] = [];
  for await (const chunk of response.readableStreamBody!) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>;
}

export async function fixtureJpeg(name = 'cell0020.png'): Promise<Buffer> {
  return sharp(path.join(FIXTURES, name)).jpeg({ quality: 80 }).toBuffer();
}


/** A logger whose lines are kept, to check what reaches the log. */
export function capturingLogger(): { log: Logger; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), text: () => text };
}

export interface TestLine {
  ctx: AppContext;
  upload: UploadExtension;
  save(verdict: Verdict, options?: { capturedAt?: number; cameraId?: string; image?: Buffer | null; modelVersion?: string }): Inspection;
  close(): Promise<void>;
}

export function inspection(verdict: Verdict, capturedAt: number, cameraId = 'cam-a', modelVersion = '0.1.0'): Inspection {
  return makeInspection({
    cameraId,
    capturedAt,
    inferredAt: capturedAt + 20,
    decidedAt: capturedAt + 21,
    verdict,
    score: verdict === 'defect' ? 1.3 : verdict === 'uncertain' ? 0.95 : 0.7,
    model: { name: 'elpv-cells', version: modelVersion, task: 'anomaly' },
    thresholds: { defect: 1, uncertainBand: 0.1 },
    timings: { queueMs: 1, preprocessMs: 2, inferenceMs: 10, postprocessMs: 1 },
  });
}

export async function startTestLine(raw: { upload: Record<string, unknown>; store?: Record<string, unknown>; cameras?: unknown[] }, dataDir: string, options: UploadExtensionOptions & { log?: Logger } = {}): Promise<TestLine> {
  const config: Config = parseConfig({
    cameras: raw.cameras ?? [
      { id: 'cam-a', source: FIXTURES },
      { id: 'cam-b', source: FIXTURES },
    ],
    store: { dataDir, okSampleFraction: 1, ...raw.store },
    review: { enabled: false },
    upload: { enabled: true, backoffInitialMs: 50, backoffMaxMs: 300, ...raw.upload },
  });
  const log = options.log ?? silentLogger();
  const store = openStore({ config: config.store, dataDir, log });
  const bus = createBus(log);
  const metrics = createMetrics({ cameras: () => [], defaultMetrics: false });
  const health = createHealthRegistry();
  // Cameras, pipeline and control are not used by the upload extension.
  const sampling = createSamplingPolicy({ config, log });
  const ctx = { config, baseDir: dataDir, log, store, bus, metrics, health, sampling, cameras: [], pipeline: undefined, control: undefined } as unknown as AppContext;
  const upload = createUploadExtension(ctx, options)!;
  await upload.start();
  const jpeg = await fixtureJpeg();
  return {
    ctx,
    upload,
    save(verdict, o = {}) {
      const i = inspection(verdict, o.capturedAt ?? Date.now(), o.cameraId, o.modelVersion);
      const image = o.image === undefined ? jpeg : o.image;
      return store.save(i, image === null ? undefined : { image });
    },
    async close() {
      await upload.stop();
      store.close();
    },
  };
}

/** Names of the blobs in a container, sorted. */
export async function blobNames(container: import('@azure/storage-blob').ContainerClient): Promise<string[]> {
  const names: string[] = [];
  if (!(await container.exists())) return names;
  for await (const b of container.listBlobsFlat()) names.push(b.name);
  return names.sort();
}
