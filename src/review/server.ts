// The review server: built by a factory so tests use app.inject() without sockets.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import type { ComponentHealth } from '../health.js';
import type { CameraStatus } from '../types.js';
import { healthRoutes } from './routes/health.js';
import { inspectionRoutes } from './routes/inspections.js';
import { pageRoutes } from './routes/page.js';

export interface ModelInfo {
  name: string;
  version: string;
  task: string;
}

export interface ReviewDeps {
  store: Store;
  cameras: () => CameraStatus[];
  model: () => ModelInfo;
  metrics: Metrics;
  /** Health of the other components (IoT Hub, uploads, …). */
  components?: () => Record<string, ComponentHealth>;
  log: Logger;
}

export function buildReviewServer(deps: ReviewDeps): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.log.child({ module: 'review' }) as FastifyBaseLogger, 
    // Per-request lines would flood the log at the page's refresh rate; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ err: { message: err.message, code: err.code } }, 'request rejected');
    void reply.status(status).send({ error: status >= 500 ? 'internal error' : err.message, code: err.code ?? 'ERROR' });
  });
  void app.register(healthRoutes, deps);
  void app.register(inspectionRoutes, deps);
  void app.register(pageRoutes, deps);
  return app;
}
