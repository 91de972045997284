// Stations over HTTP: a trigger for a part (answered with what the PLC was told, at the latest
// at the station's deadline), and part inspections by part id or station (traceability).
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { NotFoundError, VisorError } from '../../common/errors.js';
import { createParts } from '../../store/parts.js';
import type { ReviewContext } from '../context.js';
import { CameraId } from './schemas.js';

/** Part ids are what the line gives: serial numbers, barcode text, counters. */
const PartId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$' });
const StationParams = Type.Object({ id: CameraId });
const TriggerBody = Type.Object({ partId: PartId }, { additionalProperties: false });
const PartsQuery = Type.Object(
  {
    partId: Type.Optional(PartId),
    station: Type.Optional(CameraId),
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);

export const stationRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const operator = { access: 'operator' as const };
  const parts = createParts(ctx.store.db);

  app.post<{ Params: Static<typeof StationParams>; Body: Static<typeof TriggerBody> }>(
    '/api/stations/:id/trigger',
    { config: operator, schema: { params: StationParams, body: TriggerBody } },
    async (request, reply) => {
      if (!ctx.triggers) return reply.status(503).send({ error: 'no stations take triggers in this process', code: 'UNAVAILABLE' });
      try {
        return await ctx.triggers.trigger(request.params.id, request.body.partId, `http:${request.principal!.user.name}`);
      } catch (err) {
        if (err instanceof NotFoundError) return reply.status(404).send({ error: err.message, code: err.code });
        if (err instanceof VisorError && err.code === 'STATION_BUSY') return reply.status(409).send({ error: err.message, code: err.code });
        throw err;
      }
    },
  );

  app.get<{ Querystring: Static<typeof PartsQuery> }>('/api/parts', { config: operator, schema: { querystring: PartsQuery } }, async (request) => {
    const { partId, station, before, limit } = request.query;
    return { parts: parts.list({ partId, stationId: station, before, limit }) };
  });
};
