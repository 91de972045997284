// Composition root: builds every part from the config, starts them in order and stops
// them in reverse. Features beyond the core line (review UI, IoT Hub events, uploads)
// are extensions with start/stop; a failing extension is logged, not fatal.
import path from 'node:path';
import { createBus } from './line/bus.js';
import type { AppContext, Extension, ExtensionFactory } from './line/extension.js';
import { resolvePath } from './config/paths.js';
import { createCamera, type Camera } from './capture/index.js';
import type { Config } from './config/schema.js';
import { createLineControl, type LineControl } from './line/control.js';
import { createInferencer, loadModelPackage, type Inferencer } from './inference/index.js';
import type { Logger } from './common/log.js';
import { createMetrics, type Metrics } from './line/metrics.js';
import { createPipeline, type Pipeline } from './line/pipeline.js';
import { createEventsExtension } from './events/index.js';
import { createHealthRegistry, type HealthRegistry } from './line/health.js';
import { createReviewExtension } from './review/index.js';
import { createUploadExtension } from './upload/index.js';
import { openStore, type Store } from './store/index.js';

// Order matters: started in this order, stopped in reverse (events and uploads flush before the UI goes).
export const DEFAULT_EXTENSIONS: ExtensionFactory[] = [createReviewExtension, createUploadExtension, createEventsExtension];

export interface AppDeps {
  config: Config;
  /** Folder the config's relative paths resolve against. */
  baseDir: string;
  log: Logger;
  /** Replace the model (tests inject a deliberately slow one). */
  inferencer?: Inferencer;
  /** Defaults to DEFAULT_EXTENSIONS. */
  extensions?: ExtensionFactory[];
}

export interface App extends AppContext {
  readonly extensions: Extension[];
  /** Address the review UI listens on, once started (undefined when disabled). */
  readonly reviewUrl: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Builds everything that can fail on bad input (model package, database) before anything starts. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, baseDir, log } = deps;
  const modelDir = resolvePath(baseDir, config.model.package);
  const inferencer =
    deps.inferencer ??
    (await createInferencer({
      pkg: await loadModelPackage(modelDir),
      executionProviders: config.model.executionProviders,
      threads: config.model.threads,
      log: log.child({ module: 'inference' }),
    }));
  const manifest = inferencer.manifest;
  log.info({ model: manifest.name, version: manifest.version, task: manifest.task }, 'model loaded');

  const bus = createBus(log.child({ module: 'bus' }));
  const store = openStore({ config: config.store, dataDir: path.resolve(baseDir, config.store.dataDir), log: log.child({ module: 'store' }) });
  const control = createLineControl({ config, inferencer, modelDir, bus, log });

  const cameras = config.cameras.map((camera) =>
    createCamera({
      config: camera,
      // Capture asks the model: frames come at its frame size, brought there by its geometry.
      inferenceSize: camera.inferenceSize ?? inferencer.geometry.frame,
      resize: inferencer.geometry.resize,
      baseDir,
      log: log.child({ module: 'capture', cameraId: camera.id }),
      onStatus: (status) => bus.emit('cameraStatus', status),
    }),
  );
  const metrics = createMetrics({ cameras: () => cameras.map((c) => c.status()) });
  const pipeline = createPipeline({
    cameras,
    inferencer: () => control.inferencer,
    thresholds: (id) => control.thresholds(id),
    roi: (id) => config.cameras.find((c) => c.id === id)?.roi,
    store,
    jpegQuality: config.store.jpegQuality,
    metrics,
    bus,
    log,
  });

  const health = createHealthRegistry();
  const ctx: AppContext = { config, baseDir, log, store, bus, metrics, cameras, pipeline, control, health };
  const extensions: Extension[] = [];
  try {
    for (const factory of deps.extensions ?? DEFAULT_EXTENSIONS) {
      const extension = await factory(ctx);
      if (extension) extensions.push(extension);
    }
  } catch (err) {
    store.close();
    await control.close();
    throw err;
  }
  const started: Extension[] = [];

  return {
    ...ctx,
    extensions,
    get reviewUrl() {
      return (extensions.find((e) => e.name === 'review') as { url?: string } | undefined)?.url;
    },
    async start() {
      for (const extension of extensions) {
        try {
          await extension.start();
          started.push(extension);
        } catch (err) {
          log.error({ err, extension: extension.name }, 'extension failed to start; the line runs without it');
        }
      }
      for (const camera of cameras) camera.start();
      pipeline.start();
      log.info({ cameras: cameras.map((c) => c.id) }, 'line running');
    },
    async stop() {
      log.info('stopping');
      await Promise.all(cameras.map((c) => c.stop()));
      await pipeline.stopped();
      for (const extension of started.reverse()) {
        try {
          await extension.stop();
        } catch (err) {
          log.error({ err, extension: extension.name }, 'extension failed to stop cleanly');
        }
      }
      await control.close();
      store.close();
      log.info({ inspected: pipeline.inspected }, 'stopped');
    },
  };
}
