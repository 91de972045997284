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

  // A sample on demand (docs/upload.md): the camera's next frame is kept and uploaded whatever its verdict.
  app.post<{ Params: Static<typeof CameraParams> }>('/api/live/:camera/sample', { config: { access: 'operator' }, schema: { params: CameraParams } }, async (request, reply) => {
    if (!ctx.requestSample) return reply.status(503).send({ error: 'samples cannot be taken in this process', code: 'UNAVAILABLE' });
    if (!ctx.cameras().some((c) => c.cameraId === request.params.camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
    let i;
    try {
      i = await ctx.requestSample(request.params.camera, { timeoutMs: 10_000 });
    } catch (err) {
      // No frame in time (camera offline) or the line stopping: say so, the user can try again.
      return reply.status(504).send({ error: (err as Error).message, code: (err as { code?: string }).code ?? 'SAMPLE_FAILED' });
    }
    ctx.users.audit({ user: request.principal!.user.name, action: 'sample.capture', target: i.cameraId, detail: { id: i.id } });
    return { id: i.id, cameraId: i.cameraId, verdict: i.verdict, score: i.score };
  });
};
