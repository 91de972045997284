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
});

export const healthRoutes: FastifyPluginAsync<ReviewDeps> = async (app, deps) => {
  // Healthy while the process serves and at least one camera delivers frames; a camera
  // that is reconnecting makes it "degraded" (still 200: restarting the module would not help).
  app.get('/healthz', { schema: { response: { 200: HealthSchema } } }, async () => {
    const cameras = deps.cameras();
    const allOnline = cameras.every((c) => c.state === 'online');
    return { status: allOnline ? 'ok' : 'degraded', model: deps.model(), cameras };
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
};
