// The live view: each camera's state, fps, drops and latest frame with the model's overlay.
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';
import { CameraId } from './schemas.js';

const CameraParams = Type.Object({ camera: CameraId });

export const liveRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  app.get('/api/live', { config: { access: 'operator' } }, async () => {
    const frames = new Map((ctx.live?.list() ?? []).map((f) => [f.cameraId, f]));
    return { cameras: ctx.cameras().map((status) => ({ ...status, latest: frames.get(status.cameraId) })) };
  });

  app.get<{ Params: Static<typeof CameraParams> }>(
    '/api/live/:camera/frame.jpg',
    { config: { access: 'operator' }, schema: { params: CameraParams } },
    async (request, reply) => {
      const frame = await ctx.live?.jpeg(request.params.camera);
      if (!frame) return reply.status(404).send({ error: 'no frame from this camera yet', code: 'NOT_FOUND' });
      return reply.type('image/jpeg').header('cache-control', 'no-store').header('x-frame-seq', String(frame.info.seq)).send(frame.jpeg);
    },
  );
};
