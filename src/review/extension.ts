import type { FastifyInstance } from 'fastify';
import type { AppContext, Extension } from '../line/extension.js';
import type { Learning } from '../learning/index.js';
import { errorMessage } from '../common/errors.js';
import { createLiveFrames, type LiveFrames } from './live.js';
import { savedThresholds } from './routes/settings.js';
import { buildReviewServer } from './server.js';

export interface ReviewExtension extends Extension {
  /** Where the server listens, once started. */
  readonly url: string | undefined;
}

/** Serves the review UI, its API, /healthz and /metrics while the line runs. */
export function createReviewExtension(ctx: AppContext, extras: { learning?: Learning } = {}): ReviewExtension | undefined {
  const { config, log } = ctx;
  if (!config.review.enabled) return undefined;
  let server: FastifyInstance | undefined;
  let live: LiveFrames | undefined;
  let url: string | undefined;
  return {
    name: 'review',
    get url() {
      return url;
    },
    async start() {
      live = createLiveFrames({ bus: ctx.bus });
      const cameraConfig = (id: string) => config.cameras.find((c) => c.id === id);
      server = buildReviewServer({
        store: ctx.store,
        bus: ctx.bus,
        config: config.review,
        control: ctx.control,
        live,
        triggers: ctx.triggers,
        metrics: ctx.metrics,
        cameras: () => ctx.cameras.map((c) => c.status()),
        components: () => ctx.health.report(),
        model: () => {
          const m = ctx.control.inferencer.manifest;
          return { name: m.name, version: m.version, task: m.task, labels: m.labels };
        },
        configuredThresholds: (id) => config.model.thresholds !== undefined || cameraConfig(id)?.thresholds !== undefined,
        requestSample: (id, options) => ctx.pipeline.requestSample(id, options),
        diskQuotaMb: config.store.maxDiskMb,
        ...(extras.learning ? { learning: extras.learning } : {}),
        log,
      });
      // Thresholds changed in the UI before a restart still hold (a later twin update may override
      // them). Applied once the server follows the bus, so the settings page names who set them.
      for (const [cameraId, saved] of Object.entries(savedThresholds(ctx.store.db))) {
        try {
          ctx.control.setThresholds(saved.thresholds, { cameraId, source: `review:${saved.by}` });
        } catch (err) {
          log.warn({ cameraId, detail: errorMessage(err) }, 'saved thresholds no longer apply; ignored');
        }
      }
      url = await server.listen({ host: config.review.host, port: config.review.port });
      log.info({ url }, 'review UI listening');
    },
    async stop() {
      live?.close();
      await server?.close();
    },
  };
}
