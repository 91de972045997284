import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';

const CameraStatusSchema = Type.Object({
  cameraId: Type.String(),
  state: Type.String(),
  lastError: Type.Optional(Type.String()),
  framesIn: Type.Integer(),
  framesDropped: Type.Integer(),
  framesCorrupt: Type.Integer(),
  reconnects: Type.Integer(),
  lastFrameAt: Type.Optional(Type.Number()),
});

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  model: Type.Object({ name: Type.String(), version: Type.String(), task: Type.String() }),
  cameras: Type.Array(CameraStatusSchema),
  components: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean() }, { additionalProperties: true })),
});

export const healthRoutes: FastifyPluginAsync<ReviewContext> = async (app, deps) => {
  // "degraded" while a camera is not online or a component is not ok (still 200: restarting
  // the module would not help, and the line keeps inspecting what it can).
  // Public: the IoT Edge runtime and container health checks cannot sign in, and it shows no images.
  app.get('/healthz', { config: { access: 'public' }, schema: { response: { 200: HealthSchema } } }, async () => {
    const cameras = deps.cameras();
    const components = deps.components?.() ?? {};
    const healthy = cameras.every((c) => c.state === 'online') && Object.values(components).every((c) => c.ok);
    return { status: healthy ? 'ok' : 'degraded', model: deps.model(), cameras, components };
  });

  // Signed-in users or API tokens (Prometheus: `authorization: { credentials: visor_… }`), unless publicMetrics.
  app.get('/metrics', { config: { access: deps.config.auth.publicMetrics ? 'public' : 'operator' } }, async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
