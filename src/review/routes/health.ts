import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { lineStatus } from '../../line/health.js';
import type { ReviewContext } from '../context.js';

// The detail fields are optional: without sign-in only status, camera state and component ok are served.
const CameraStatusSchema = Type.Object({
  cameraId: Type.String(),
  state: Type.String(),
  lastError: Type.Optional(Type.String()),
  framesIn: Type.Optional(Type.Integer()),
  framesDropped: Type.Optional(Type.Integer()),
  framesLost: Type.Optional(Type.Integer()),
  framesCorrupt: Type.Optional(Type.Integer()),
  framesOversized: Type.Optional(Type.Integer()),
  reconnects: Type.Optional(Type.Integer()),
  lastFrameAt: Type.Optional(Type.Number()),
});

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('failing')]),
  reasons: Type.Optional(Type.Array(Type.String())),
  model: Type.Optional(Type.Object({ name: Type.String(), version: Type.String(), task: Type.String() })),
  cameras: Type.Array(CameraStatusSchema),
  components: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean() }, { additionalProperties: true })),
});

export const healthRoutes: FastifyPluginAsync<ReviewContext> = async (app, deps) => {
  // "degraded" while a camera is not online or a component is not ok: still 200, restarting
  // the module would not help and the line keeps inspecting what it can. "failing" (a camera
  // offline, the store unable to save, …: src/line/health.ts) answers 503, so a container
  // HEALTHCHECK or a Kubernetes probe can act on it.
  // Public: the IoT Edge runtime, load balancers and container health checks cannot sign in. They
  // get what they act on: status, each camera's state, each component's ok. Error texts, URLs,
  // counters and the model are for signed-in users and API tokens (any role).
  app.get('/healthz', { config: { access: 'public' }, schema: { response: { 200: HealthSchema, 503: HealthSchema } } }, async (request, reply) => {
    const cameras = deps.cameras();
    const components = deps.components?.() ?? {};
    const { status, reasons } = lineStatus(cameras, components);
    reply.code(status === 'failing' ? 503 : 200);
    if (request.principal) return { status, reasons, model: deps.model(), cameras, components };
    return {
      status,
      cameras: cameras.map((c) => ({ cameraId: c.cameraId, state: c.state })),
      components: Object.fromEntries(Object.entries(components).map(([name, c]) => [name, { ok: c.ok }])),
    };
  });

  // Signed-in users or API tokens (Prometheus: `authorization: { credentials: visor_… }`), unless publicMetrics.
  app.get('/metrics', { config: { access: deps.config.auth.publicMetrics ? 'public' : 'operator' } }, async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
