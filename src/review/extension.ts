import type { FastifyInstance } from 'fastify';
import type { AppContext, Extension } from '../app.js';
import { buildReviewServer } from './server.js';

export interface ReviewExtension extends Extension {
  /** Where the server listens, once started. */
  readonly url: string | undefined;
}

/** Serves the review page, API, /healthz and /metrics while the line runs. */
export function createReviewExtension(ctx: AppContext): ReviewExtension | undefined {
  const { config, log } = ctx;
  if (!config.review.enabled) return undefined;
  let server: FastifyInstance | undefined;
  let url: string | undefined;
  return {
    name: 'review',
    get url() {
      return url;
    },
    async start() {
      server = buildReviewServer({
        store: ctx.store,
        metrics: ctx.metrics,
        cameras: () => ctx.cameras.map((c) => c.status()),
        components: () => ctx.health.report(),
        model: () => {
          const m = ctx.control.inferencer.manifest;
          return { name: m.name, version: m.version, task: m.task };
        },
        log,
      });
      url = await server.listen({ host: config.review.host, port: config.review.port });
      log.info({ url }, 'review UI listening');
    },
    async stop() {
      await server?.close();
    },
  };
}
