// Stations over HTTP: a trigger for a part (answered with what the PLC was told, at the latest
// at the station's deadline), part inspections by part id, station or inspection
// (traceability), one part with its views, the stations with their handshake, and the recipe
// switch (the PLC's own mechanism: between parts, recorded in recipe_changes).
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, ModelPackageError, NotFoundError, VisorError } from '../../common/errors.js';
import { VerdictSchema } from '../../common/types.js';
import type { StationControl } from '../../line/triggers.js';
import { createParts, type PartRecord } from '../../store/parts.js';
import type { ReviewContext } from '../context.js';
import { toApi } from './inspections.js';
import { CameraId, ErrorSchema, Id, InspectionSchema } from './schemas.js';

/** Part ids are what the line gives: serial numbers, barcode text, counters. */
const PartId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$' });
const StationParams = Type.Object({ id: CameraId });
const TriggerBody = Type.Object({ partId: PartId }, { additionalProperties: false });
const RecipeBody = Type.Object({ index: Type.Integer({ minimum: 0, maximum: 65534 }) }, { additionalProperties: false });
const PartsQuery = Type.Object(
  {
    partId: Type.Optional(PartId),
    station: Type.Optional(CameraId),
    /** The part an inspection was a view of. */
    inspection: Type.Optional(Id),
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
);
const PartParams = Type.Object({ row: Type.Integer({ minimum: 1 }) });

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const PartSchema = Type.Object({
  id: Type.Integer(),
  partId: Type.String(),
  stationId: Type.String(),
  source: Type.String(),
  triggeredAt: Type.Number(),
  deadlineAt: Type.Number(),
  recipe: Nullable(Type.Integer()),
  verdict: Nullable(Type.Union([Type.Literal('ok'), Type.Literal('ng')])),
  resultCode: Nullable(Type.Integer()),
  resultAt: Nullable(Type.Number()),
  late: Type.Boolean(),
  viewsVerdict: Nullable(VerdictSchema),
  completedAt: Nullable(Type.Number()),
  views: Type.Array(Type.Object({ cameraId: Type.String(), inspectionId: Type.String() })),
});

const RecipeSchema = Type.Object({ index: Type.Integer(), name: Type.Optional(Type.String()), model: Type.Optional(Type.String()) });
const RecipeChangeSchema = Type.Object({ id: Type.Integer(), fromIndex: Nullable(Type.Integer()), toIndex: Type.Integer(), source: Type.String(), changedAt: Type.Number() });

export const StationSchema = Type.Object({
  id: Type.String(),
  cameras: Type.Array(Type.String()),
  recipes: Type.Array(RecipeSchema),
  status: Type.Object({
    ready: Type.Boolean(),
    busy: Type.Boolean(),
    resultReady: Type.Boolean(),
    ok: Type.Boolean(),
    ng: Type.Boolean(),
    error: Type.Boolean(),
    resultCode: Type.Integer(),
    partId: Type.String(),
    recipe: Type.Integer(),
    counters: Type.Object({ triggers: Type.Integer(), refused: Type.Integer(), ok: Type.Integer(), ng: Type.Integer(), deadlineMisses: Type.Integer(), abandoned: Type.Integer() }),
  }),
  /** The last switches, newest first. */
  recipeChanges: Type.Array(RecipeChangeSchema),
  lastPart: Type.Optional(PartSchema),
});

/** One part with the inspection of each camera of its station (null: no view came, or it is no longer stored). */
export const PartDetailSchema = Type.Object({
  part: PartSchema,
  recipe: Type.Optional(RecipeSchema),
  views: Type.Array(Type.Object({ cameraId: Type.String(), inspection: Nullable(InspectionSchema) })),
});

const RECENT_CHANGES = 5;

export const stationRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const operator = { access: 'operator' as const };
  const engineer = { access: 'engineer' as const };
  const parts = createParts(ctx.store.db);
  const unavailable = (reply: FastifyReply) => reply.status(503).send({ error: 'no stations in this process', code: 'UNAVAILABLE' });
  const control = (id: string): StationControl | undefined => ctx.triggers?.controls().find((c) => c.id === id);

  const station = (c: StationControl): Static<typeof StationSchema> => {
    const [lastPart] = parts.list({ stationId: c.id, limit: 1 });
    return {
      id: c.id,
      cameras: [...c.cameras],
      recipes: [...c.recipes],
      status: c.status(),
      recipeChanges: parts.recipeChanges(c.id, RECENT_CHANGES).map(({ id, fromIndex, toIndex, source, changedAt }) => ({ id, fromIndex, toIndex, source, changedAt })),
      ...(lastPart ? { lastPart } : {}),
    };
  };

  app.post<{ Params: Static<typeof StationParams>; Body: Static<typeof TriggerBody> }>(
    '/api/stations/:id/trigger',
    { config: operator, schema: { params: StationParams, body: TriggerBody } },
    async (request, reply) => {
      if (!ctx.triggers) return unavailable(reply);
      try {
        return await ctx.triggers.trigger(request.params.id, request.body.partId, `http:${request.principal!.user.name}`);
      } catch (err) {
        if (err instanceof NotFoundError) return reply.status(404).send({ error: err.message, code: err.code });
        if (err instanceof VisorError && err.code === 'STATION_BUSY') return reply.status(409).send({ error: err.message, code: err.code });
        throw err;
      }
    },
  );

  app.get('/api/stations', { config: operator, schema: { response: { 200: Type.Object({ stations: Type.Array(StationSchema) }) } } }, async () => ({
    stations: (ctx.triggers?.controls() ?? []).map(station),
  }));

  // Answers once the switch is made: after the part in flight, if any, has its result.
  app.post<{ Params: Static<typeof StationParams>; Body: Static<typeof RecipeBody> }>(
    '/api/stations/:id/recipe',
    { config: engineer, schema: { params: StationParams, body: RecipeBody, response: { 200: StationSchema, 404: ErrorSchema, 409: ErrorSchema, 503: ErrorSchema } } },
    async (request, reply) => {
      if (!ctx.triggers) return unavailable(reply);
      const c = control(request.params.id);
      if (!c) return reply.status(404).send({ error: `no station "${request.params.id}"`, code: 'NOT_FOUND' });
      const { index } = request.body;
      if (!c.recipes.some((r) => r.index === index)) {
        const known = c.recipes.map((r) => r.index).join(', ') || 'none';
        return reply.status(400).send({ error: `station ${c.id} has no recipe with index ${index} (known: ${known})`, code: 'BAD_REQUEST', fields: { index: `no recipe ${index} (known: ${known})` } });
      }
      try {
        await c.selectRecipe(index, `review:${request.principal!.user.name}`);
      } catch (err) {
        if (err instanceof ConfigError) return reply.status(400).send({ error: err.issues.join('; '), code: err.code });
        // The recipe's model package cannot be loaded: the engineer must know why (the running recipe stays).
        if (err instanceof ModelPackageError) return reply.status(409).send({ error: `recipe ${index} not applied, the running one stays: ${err.message}`, code: err.code });
        throw err;
      }
      return station(c);
    },
  );

  app.get<{ Querystring: Static<typeof PartsQuery> }>(
    '/api/parts',
    { config: operator, schema: { querystring: PartsQuery, response: { 200: Type.Object({ parts: Type.Array(PartSchema) }) } } },
    async (request) => {
      const { partId, station: stationId, inspection, before, limit } = request.query;
      if (inspection !== undefined) {
        const found = parts.partOfInspection(inspection);
        const part = found ? parts.get(found.row) : undefined;
        return { parts: part ? [part] : [] };
      }
      return { parts: parts.list({ partId, stationId, before, limit }) };
    },
  );

  app.get<{ Params: Static<typeof PartParams> }>(
    '/api/parts/:row',
    { config: operator, schema: { params: PartParams, response: { 200: PartDetailSchema, 404: ErrorSchema } } },
    async (request, reply) => {
      const part = parts.get(request.params.row);
      if (!part) return reply.status(404).send({ error: `no part inspection ${request.params.row}`, code: 'NOT_FOUND' });
      const c = control(part.stationId);
      const recipe = part.recipe === null ? undefined : c?.recipes.find((r) => r.index === part.recipe);
      return { part, ...(recipe ? { recipe } : {}), views: viewsOf(part, c) };
    },
  );

  /** Every camera of the station (those without a view too), then any other camera the part has a view of. */
  function viewsOf(part: PartRecord, c: StationControl | undefined): Static<typeof PartDetailSchema>['views'] {
    const cameras = [...new Set([...(c?.cameras ?? []), ...part.views.map((v) => v.cameraId)])];
    return cameras.map((cameraId) => {
      const view = part.views.find((v) => v.cameraId === cameraId);
      const inspection = view ? ctx.queue.get(view.inspectionId) : undefined;
      return { cameraId, inspection: inspection ? toApi(inspection) : null };
    });
  }
};
