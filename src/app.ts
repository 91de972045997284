// Composition root: builds every part from the config, starts them in order and stops
// them in reverse. Nothing else creates long-lived parts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createCamera, type Camera } from './capture/index.js';
import type { Config } from './config/schema.js';
import { createInferencer, loadModelPackage, resolveThresholds, type Inferencer } from './inference/index.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { buildReviewServer } from './review/index.js';
import { openStore, type Store } from './store/index.js';
import type { Inspection, Thresholds } from './types.js';

/** The installed package's root folder (holds models/ and config/). */
export const INSTALL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface AppDeps {
  config: Config;
  /** Folder the config's relative paths resolve against. */
  baseDir: string;
  log: Logger;
  /** Replace the model (tests inject a deliberately slow one). */
  inferencer?: Inferencer;
  onInspection?: (inspection: Inspection) => void;
}

export interface App {
  readonly store: Store;
  readonly metrics: Metrics;
  readonly cameras: Camera[];
  readonly pipeline: Pipeline;
  /** Address the review UI listens on, once started (undefined when disabled). */
  readonly reviewUrl: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Resolves a path from the config: against the config's folder, then the install folder. */
export function resolvePath(baseDir: string, p: string): string {
  if (path.isAbsolute(p)) return p;
  const local = path.resolve(baseDir, p);
  if (existsSync(local)) return local;
  const installed = path.resolve(INSTALL_DIR, p);
  return existsSync(installed) ? installed : local;
}

/** Builds everything that can fail on bad input (model package, database) before anything starts. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, baseDir, log } = deps;
  const inferencer =
    deps.inferencer ??
    (await createInferencer({
      pkg: await loadModelPackage(resolvePath(baseDir, config.model.package)),
      executionProviders: config.model.executionProviders,
      threads: config.model.threads,
      log: log.child({ module: 'inference' }),
    }));
  const manifest = inferencer.manifest;
  log.info({ model: manifest.name, version: manifest.version, task: manifest.task }, 'model loaded');

  const store = openStore({ config: config.store, dataDir: path.resolve(baseDir, config.store.dataDir), log: log.child({ module: 'store' }) });

  const cameras = config.cameras.map((camera) =>
    createCamera({
      config: camera,
      inferenceSize: camera.inferenceSize ?? inferencer.inputSize,
      baseDir,
      log: log.child({ module: 'capture', cameraId: camera.id }),
    }),
  );
  const metrics = createMetrics({ cameras: () => cameras.map((c) => c.status()) });

  const thresholds = new Map<string, Thresholds>(
    config.cameras.map((camera) => [camera.id, resolveThresholds(manifest.thresholds, config.model.thresholds, camera.thresholds)]),
  );
  const pipeline = createPipeline({
    cameras,
    inferencer: () => inferencer,
    thresholds: (id) => thresholds.get(id)!,
    roi: (id) => config.cameras.find((c) => c.id === id)?.roi,
    store,
    jpegQuality: config.store.jpegQuality,
    metrics,
    log,
    onInspection: deps.onInspection,
  });

  let server: FastifyInstance | undefined;
  let reviewUrl: string | undefined;

  return {
    store,
    metrics,
    cameras,
    pipeline,
    get reviewUrl() {
      return reviewUrl;
    },
    async start() {
      if (config.review.enabled) {
        server = buildReviewServer({
          store,
          metrics,
          cameras: () => cameras.map((c) => c.status()),
          model: () => ({ name: manifest.name, version: manifest.version, task: manifest.task }),
          log,
        });
        reviewUrl = await server.listen({ host: config.review.host, port: config.review.port });
        log.info({ url: reviewUrl }, 'review UI listening');
      }
      for (const camera of cameras) camera.start();
      pipeline.start();
      log.info({ cameras: cameras.map((c) => c.id) }, 'line running');
    },
    async stop() {
      log.info('stopping');
      await Promise.all(cameras.map((c) => c.stop()));
      await pipeline.stopped();
      await server?.close();
      await inferencer.close();
      store.close();
      log.info({ inspected: pipeline.inspected }, 'stopped');
    },
  };
}
