// Composition root: builds every part from the config, starts them in order and stops
// them in reverse. Features beyond the core line (review UI, IoT Hub events, uploads)
// are extensions with start/stop; a failing extension is logged, not fatal.
import path from 'node:path';
import { createBus } from './line/bus.js';
import type { AppContext, Extension, ExtensionFactory } from './line/extension.js';
import { resolvePath } from './config/paths.js';
import { createCamera, type Camera } from './capture/index.js';
import type { Config } from './config/schema.js';
import { triggeredOnlyCameras } from './config/stations.js';
import { createLineControl, type LineControl } from './line/control.js';
import { lineThreads, loadModelPackage, openInferencer, type Inferencer } from './inference/index.js';
import type { Logger } from './common/log.js';
import { createMetrics, type Metrics } from './line/metrics.js';
import { createPipeline, type Pipeline } from './line/pipeline.js';
import { createSamplingPolicy } from './line/sampling.js';
import { createTriggerRegistry } from './line/triggers.js';
import {
  createCommandsExtension,
  createEventsExtension,
  createEventsMetrics,
  createHealthMessages,
  createModelRollout,
  createTwinExtension,
} from './events/index.js';
import { createHealthRegistry, type HealthRegistry } from './line/health.js';
import { createHeapRelease, type HeapRelease } from './line/heap.js';
import { createReviewExtension } from './review/index.js';
import { createLearningExtension } from './learning/index.js';
import { createStationsExtension } from './stations/index.js';
import { createUploadExtension } from './upload/index.js';
import { diskHealth, diskPressure, openStore, registerStoreMetrics, type Store } from './store/index.js';

/**
 * IoT Hub: `events` is the link (connection, outbox, reported properties) that the other
 * extensions get explicitly. They register their handlers when they start, before the link
 * starts and the hub connects; health messages stop before the link, the rest after it.
 */
export function createIotHubExtensions(ctx: AppContext): Extension[] {
  const events = createEventsExtension(ctx);
  const models = createModelRollout(ctx, events);
  return [
    createEventsMetrics(ctx, events),
    models,
    createTwinExtension(ctx, events, models),
    createCommandsExtension(ctx, events, models),
    events,
    createHealthMessages(ctx, events),
  ];
}

/** The learning loop (when enabled) and the review UI, which serves its page and API; learning starts first. */
export function createReviewAndLearning(ctx: AppContext): Extension[] {
  const learning = createLearningExtension(ctx);
  const review = createReviewExtension(ctx, { learning: learning?.learning });
  const built: Array<Extension | undefined> = [learning, review];
  return built.filter((e): e is Extension => e !== undefined);
}

// Order matters: started in this order, stopped in reverse (events and uploads flush before the UI goes).
// Stations come before uploads and IoT Hub: their save hook links a view to its part before those hooks read it.
export const DEFAULT_EXTENSIONS: ExtensionFactory[] = [createReviewAndLearning, createStationsExtension, createUploadExtension, createIotHubExtensions];

export interface AppDeps {
  config: Config;
  /** Folder the config's relative paths resolve against. */
  baseDir: string;
  log: Logger;
  /** Replace the model (tests inject a deliberately slow one). */
  inferencer?: Inferencer;
  /** Defaults to DEFAULT_EXTENSIONS. */
  extensions?: ExtensionFactory[];
  /** Sampling draws (which ok images are kept and uploaded); tests pass a seeded or constant one. */
  random?: () => number;
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
    (await openInferencer({
      pkg: await loadModelPackage(modelDir),
      executionProviders: config.model.executionProviders,
      threads: config.model.threads || lineThreads(config.cameras.length),
      worker: config.model.worker,
      log,
    }));

  // Nothing runs yet, so a failure below closes what was opened (the model session, the database) and rethrows.
  const opened: Array<() => unknown> = [() => inferencer.close()];
  try {
    const bus = createBus(log.child({ module: 'bus' }));
    const store = openStore({ config: config.store, dataDir: path.resolve(baseDir, config.store.dataDir), log: log.child({ module: 'store' }) });
    opened.push(() => store.close());
    const control = createLineControl({ config, inferencer, modelDir, bus, log });
    opened[0] = () => control.close(); // the control owns the model in use from here on

    // Modules name themselves in the log (module, cameraId): they get the root logger.
    const cameras = config.cameras.map((camera) =>
      createCamera({
        config: camera,
        // Capture asks the model: frames come at its frame size, brought there by its geometry.
        inferenceSize: camera.inferenceSize ?? inferencer.geometry.frame,
        resize: inferencer.geometry.resize,
        ...(inferencer.geometry.padValue !== undefined ? { padValue: inferencer.geometry.padValue } : {}),
        baseDir,
        log,
        onStatus: (status) => bus.emit('cameraStatus', status),
      }),
    );
    const metrics = createMetrics({ cameras: () => cameras.map((c) => c.status()) });
    registerStoreMetrics(metrics.registry, store);
    const sampling = createSamplingPolicy({ config, log: log.child({ module: 'sampling' }), random: deps.random, registry: metrics.registry });
    sampling.addPressure(diskPressure(store.disk));
    const pipeline = createPipeline({
      cameras,
      inferencer: () => control.inferencer,
      thresholds: (id) => control.thresholds(id),
      roi: (id) => config.cameras.find((c) => c.id === id)?.roi,
      store,
      sampling,
      jpegQuality: config.store.jpegQuality,
      triggeredOnly: triggeredOnlyCameras(config),
      metrics,
      bus,
      log,
    });

    // The line sheds stored images under its own pressure too (src/line/saturation.ts); health shows saturation.
    sampling.addPressure(pipeline.saturation);
    const health = createHealthRegistry();
    health.add('store', () => ({ ...diskHealth(store.disk) }));
    health.add('line', () => pipeline.saturation.health());
    const ctx: AppContext = { config, baseDir, log, store, bus, metrics, cameras, pipeline, control, health, sampling, triggers: createTriggerRegistry() };
    const extensions: Extension[] = [];
    for (const factory of deps.extensions ?? DEFAULT_EXTENSIONS) {
      const built = await factory(ctx);
      if (built) extensions.push(...[built].flat());
    }
    // A saturated line never lets V8 give back the pages of a heap peak by itself (src/line/heap.ts).
    const heap = createHeapRelease({ log, registry: metrics.registry });
    return assemble(ctx, extensions, heap);
  } catch (err) {
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch (closeErr) {
        log.warn({ err: closeErr }, 'could not close after a failed start-up');
      }
    }
    throw err;
  }
}

/** The running app: extensions first, then cameras and the pipeline; stopped in reverse. */
function assemble(ctx: AppContext, extensions: Extension[], heap: HeapRelease): App {
  const { log, cameras, pipeline, control, store } = ctx;
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
      heap.start();
      log.info({ cameras: cameras.map((c) => c.id) }, 'line running');
    },
    async stop() {
      log.info('stopping');
      await heap.stop();
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
      await store.close();
      log.info({ inspected: pipeline.inspected }, 'stopped');
    },
  };
}
