// Stats for the line: defect rate over time per camera, throughput, latency, score histogram, review agreement.
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';
import { CameraId } from './schemas.js';

const StatsQuery = Type.Object(
  {
    from: Type.Optional(Type.Integer({ minimum: 0 })),
    to: Type.Optional(Type.Integer({ minimum: 0 })),
    camera: Type.Optional(CameraId),
    buckets: Type.Integer({ minimum: 2, maximum: 500, default: 60 }),
  },
  { additionalProperties: false },
);

export const statsRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  app.get<{ Querystring: Static<typeof StatsQuery> }>('/api/stats', { config: { access: 'operator' }, schema: { querystring: StatsQuery } }, async (request, reply) => {
    const to = request.query.to ?? (ctx.now ?? Date.now)();
    const from = request.query.from ?? to - 3600_000;
    if (from >= to) return reply.status(400).send({ error: 'querystring/from: must be before to', code: 'BAD_REQUEST' });
    const stats = ctx.queue.stats({ from, to, camera: request.query.camera, buckets: request.query.buckets });
    const cameras = request.query.camera ? [request.query.camera] : ctx.cameras().map((c) => c.cameraId);
    const thresholds = Object.fromEntries(cameras.map((id) => [id, safe(() => ctx.control?.thresholds(id))]));
    return { from, to, ...stats, thresholds };
  });
};

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
