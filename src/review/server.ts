// The review server: built by a factory so tests use app.inject() without sockets.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import { NotFoundError } from '../common/errors.js';
import { randomInt } from 'node:crypto';
import { isLoopback } from '../config/load.js';
import { registerAuth } from './auth.js';
import { registerHostCheck } from './hosts.js';
import { createLoginBackoff } from './login-backoff.js';
import type { ReviewContext, ReviewDeps } from './context.js';
import { createReviewQueue } from './queue.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { inspectionRoutes } from './routes/inspections.js';
import { learningRoutes } from './routes/learning.js';
import { liveRoutes } from './routes/live.js';
import { boardRoutes } from './routes/board.js';
import { referenceRoutes } from './routes/reference.js';
import { pageRoutes } from './routes/page.js';
import { reportRoutes } from './routes/reports.js';
import { createBoardQueries } from './board.js';
import { fieldErrors } from './messages.js';
import { trackThresholdSources } from './thresholds.js';
import { settingsRoutes } from './routes/settings.js';
import { statsRoutes } from './routes/stats.js';
import { stationRoutes } from './routes/stations.js';
import { userRoutes } from './routes/users.js';
import { createSseHub } from './sse.js';
import { createUserStore } from './users.js';

export type { ModelInfo, ReviewContext, ReviewDeps, ThresholdControl } from './context.js';

/** Built UI assets (vite build → dist/ui at the repository or install root). */
export const DEFAULT_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/ui');

/** 59 random bits as 12 characters in groups of 4 (no 0/O, 1/I/L), e.g. `K7QX-M2PD-9WTA`. */
export function randomSetupCode(): string {
  const alphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
  const chars = Array.from({ length: 12 }, () => alphabet[randomInt(alphabet.length)]!);
  return [0, 4, 8].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

export function buildReviewServer(deps: ReviewDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log.child({ module: 'review' }) as FastifyBaseLogger,
    // Per-request lines would flood the log at the UI's refresh rate; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.config.auth.trustProxy,
    bodyLimit: 256 * 1024,
    // Unknown fields are an error, not silently dropped (fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false } },
  });
  const users = createUserStore({ db: deps.store.db, now: deps.now });
  // The first admin needs the code printed here, so a page in a local browser cannot create it.
  const offerSetup = deps.config.auth.firstAdminSetup && isLoopback(deps.config.host) && users.count() === 0;
  const ctx: ReviewContext = {
    ...deps,
    users,
    queue: createReviewQueue({ store: deps.store }),
    sse: createSseHub(),
    uiDir: deps.uiDir ?? DEFAULT_UI_DIR,
    setupCode: offerSetup ? (deps.newSetupCode ?? randomSetupCode)() : undefined,
    loginBackoff: createLoginBackoff({ maxMs: deps.config.auth.loginBackoffMaxSeconds * 1000, now: deps.now }),
    // From the start: saved UI thresholds are applied after the server is built (see extension.ts).
    thresholdSources: trackThresholdSources({ bus: deps.bus, configured: deps.configuredThresholds ?? (() => false), now: deps.now ?? Date.now }),
    board: createBoardQueries(deps.store.db),
  };
  if (ctx.setupCode) {
    app.log.warn({ setupCode: ctx.setupCode }, 'no user exists yet: create the first admin in the review UI with this one-time setup code');
    (deps.announce ?? ((line) => process.stderr.write(line)))(`visor: no user exists yet; the review UI's first-admin setup code is ${ctx.setupCode}\n`);
  }
  if (!existsSync(path.join(ctx.uiDir, 'index.html'))) {
    app.log.error({ uiDir: ctx.uiDir }, 'the review UI is not built (run `npm run build`); the API works, the page answers 503');
  }
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    const status = err.statusCode ?? (err instanceof NotFoundError ? 404 : 500);
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ err: { message: err.message, code: err.code } }, 'request rejected');
    const fields = Array.isArray(err.validation) ? fieldErrors(err.validation) : undefined;
    void reply.status(status).send({ error: status >= 500 ? 'internal error' : err.message, code: err.code ?? 'ERROR', ...(fields ? { fields } : {}) });
  });
  // What open browsers hear about: every stored inspection (small summary), camera states,
  // threshold changes from anywhere (UI, module twin), and new live frames (throttled).
  const unsubscribe = [
    deps.bus.on('inspection', ({ inspection, storedAt }) =>
      ctx.sse.send('inspection', {
        id: inspection.id,
        cameraId: inspection.cameraId,
        verdict: inspection.verdict,
        score: inspection.score,
        capturedAt: inspection.capturedAt,
        storedAt,
      }),
    ),
    deps.bus.on('cameraStatus', (status) => ctx.sse.send('cameraStatus', status)),
    deps.bus.on('thresholds', ({ cameraId, thresholds, source }) => {
      // Changes from outside the UI (module twin, direct method, a new model) go into the audit log too.
      const origin = ctx.thresholdSources.get(cameraId);
      if (!source.startsWith('review:')) ctx.users.audit({ user: origin.kind, action: 'thresholds.set', target: cameraId, detail: { after: thresholds } });
      ctx.sse.send('thresholds', { cameraId, thresholds, source: origin });
    }),
    deps.live?.onFrame((info) => ctx.sse.send('frame', info)) ?? (() => {}),
  ];
  // Open event streams would keep close() waiting for ever.
  app.addHook('preClose', async () => {
    for (const off of unsubscribe) off();
    ctx.thresholdSources.close();
    ctx.sse.close();
  });

  // Before everything else: a request for another host name (DNS rebinding) reaches no route.
  registerHostCheck(app, deps.config);
  app.addHook('onSend', async (_request, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
  });
  void app.register(fastifyCookie);
  void app.register(fastifyRateLimit, { global: false });
  // After the cookie plugin, so its hook has parsed the cookies when ours looks at them.
  app.after(() => registerAuth(app, { users: ctx.users }));
  void app.register(healthRoutes, ctx);
  void app.register(authRoutes, ctx);
  void app.register(inspectionRoutes, ctx);
  void app.register(liveRoutes, ctx);
  void app.register(statsRoutes, ctx);
  void app.register(boardRoutes, ctx);
  void app.register(referenceRoutes, ctx);
  void app.register(settingsRoutes, ctx);
  void app.register(userRoutes, ctx);
  void app.register(reportRoutes, ctx);
  void app.register(stationRoutes, ctx);
  void app.register(learningRoutes, ctx);
  void app.register(pageRoutes, ctx);
  return app;
}
