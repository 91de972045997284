import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ReviewDeps } from '../server.js';

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

export const healthRoutes: FastifyPluginAsync<ReviewDeps> = async (app, deps) => {
  // "degraded" while a camera is not online or a component is not ok (still 200: restarting
  // the module would not help, and the line keeps inspecting what it can).
  app.get('/healthz', { schema: { response: { 200: HealthSchema } } }, async () => {
    const cameras = deps.cameras();
    const components = deps.components?.() ?? {};
    const healthy = cameras.every((c) => c.state === 'online') && Object.values(components).every((c) => c.ok);
    return { status: healthy ? 'ok' : 'degraded', model: deps.model(), cameras, components };
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
