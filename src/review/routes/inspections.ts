// Inspections for reviewers: the queue (filters, keyset paging), one inspection with its
// history and neighbours, its images, and verdicts (bulk and undo).
import { createReadStream } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { DECISIONS, MAX_BULK, REVIEW_FILTERS, SHADOW_FILTERS, VERDICT_FILTERS, type QueueItem, type RecordedReview } from '../queue.js';
import type { ReviewContext } from '../context.js';
import { createOverlayCache, imageFromFile, renderOverlay } from '../../inference/index.js';
import { CameraId, ErrorSchema, Id, InspectionSchema, RecordedReviewSchema } from './schemas.js';

const literals = <T extends readonly string[]>(values: T, options: { default?: T[number] } = {}) =>
  Type.Union(values.map((v) => Type.Literal(v as T[number])), options);

const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    before: Type.Optional(Id),
    camera: Type.Optional(CameraId),
    from: Type.Optional(Type.Integer({ minimum: 0 })),
    to: Type.Optional(Type.Integer({ minimum: 0 })),
    // The queue page asks for 'flagged'; plain API clients get every inspection by default.
    verdict: literals(VERDICT_FILTERS, { default: 'all' }),
    review: Type.Optional(literals(REVIEW_FILTERS)),
    // Frames a shadow candidate disagrees on (docs/learning.md); those the live model passed are ok verdicts, so ask with verdict=all.
    shadow: Type.Optional(literals(SHADOW_FILTERS)),
    model: Type.Optional(Type.String({ maxLength: 64 })),
    minScore: Type.Optional(Type.Number()),
    maxScore: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Id });
const ImageParams = Type.Object({ id: Id, kind: Type.Union([Type.Literal('image'), Type.Literal('overlay')]) });
const Label = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$' });
const VerdictBody = Type.Object(
  {
    ids: Type.Array(Id, { minItems: 1, maxItems: MAX_BULK, uniqueItems: true }),
    decision: literals(DECISIONS),
    label: Type.Optional(Label),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
const UndoBody = Type.Object({ ids: Type.Array(Id, { minItems: 1, maxItems: MAX_BULK, uniqueItems: true }) }, { additionalProperties: false });
const Recorded = Type.Object({ reviews: Type.Array(RecordedReviewSchema) });

export function toApi(i: QueueItem): Static<typeof InspectionSchema> {
  const { imagePath, overlayPath, ...rest } = i;
  return {
    ...rest,
    imageUrl: imagePath ? `/api/inspections/${i.id}/image` : undefined,
    // A stored overlay file (older rows) or one rendered on demand from the stored heat map.
    overlayUrl: overlayPath || (imagePath && i.overlayData) ? `/api/inspections/${i.id}/overlay` : undefined,
  };
}

export const inspectionRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const operator = { access: 'operator' as const };
  // Rendered overlays: a reviewer paging back and forth renders each once (an inspection's image, heat map and thresholds never change).
  const overlays = createOverlayCache({ maxEntries: 64 });

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/inspections',
    { config: operator, schema: { querystring: ListQuery, response: { 200: Type.Object({ items: Type.Array(InspectionSchema), next: Type.Optional(Type.String()) }) } } },
    async (request) => {
      const { items, next } = ctx.queue.list(request.query);
      return { items: items.map(toApi), next };
    },
  );

  app.get('/api/filters', { config: operator }, async () => ({
    cameras: ctx.cameras().map((c) => c.cameraId),
    models: ctx.queue.models(),
    // What relabelling offers first (a reviewer may still type another label).
    labels: ctx.model().labels ?? [],
    thresholds: Object.fromEntries(ctx.cameras().map((c) => [c.cameraId, ctx.control?.thresholds(c.cameraId)])),
  }));

  app.get<{ Params: Static<typeof IdParams> }>(
    '/api/inspections/:id',
    { config: operator, schema: { params: IdParams, response: { 200: Type.Intersect([InspectionSchema, Type.Object({ history: Type.Array(Type.Any()) })]), 404: ErrorSchema } } },
    async (request, reply) => {
      const inspection = ctx.queue.get(request.params.id);
      if (!inspection) return reply.status(404).send({ error: 'no such inspection', code: 'NOT_FOUND' });
      return { ...toApi(inspection), history: ctx.queue.history(inspection.id) };
    },
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: { count: number } }>(
    '/api/inspections/:id/neighbours',
    {
      config: operator,
      schema: {
        params: IdParams,
        querystring: Type.Object({ count: Type.Integer({ minimum: 1, maximum: 20, default: 4 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ before: Type.Array(InspectionSchema), after: Type.Array(InspectionSchema) }) },
      },
    },
    async (request, reply) => {
      if (!ctx.queue.get(request.params.id)) return reply.status(404).send({ error: 'no such inspection', code: 'NOT_FOUND' });
      const { before, after } = ctx.queue.neighbours(request.params.id, request.query.count);
      return { before: before.map(toApi), after: after.map(toApi) };
    },
  );

  // Images only to signed-in users; the path comes from the row, never from the URL.
  app.get<{ Params: Static<typeof ImageParams> }>('/api/inspections/:id/:kind', { config: operator, schema: { params: ImageParams } }, async (request, reply) => {
    const inspection = ctx.store.get(request.params.id);
    if (request.params.kind === 'overlay' && inspection?.imagePath && !inspection.overlayPath && inspection.overlayData) {
      const data = ctx.store.overlayData(inspection.id);
      let image: string;
      try {
        image = ctx.store.imageFile(inspection.imagePath);
      } catch {
        return reply.status(404).send({ error: 'image no longer stored', code: 'NOT_FOUND' });
      }
      const { heatMap, ...placement } = data ?? {};
      const jpeg = await overlays.get(inspection.id, async () =>
        renderOverlay(await imageFromFile(image), { score: inspection.score, heatMap, boxes: inspection.boxes }, { ...placement, threshold: inspection.thresholds.defect }),
      );
      return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(jpeg);
    }
    const rel = request.params.kind === 'image' ? inspection?.imagePath : inspection?.overlayPath;
    if (!rel) return reply.status(404).send({ error: 'no image stored for this inspection', code: 'NOT_FOUND' });
    let file: string;
    try {
      file = ctx.store.imageFile(rel);
    } catch {
      return reply.status(404).send({ error: 'image no longer stored', code: 'NOT_FOUND' });
    }
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(createReadStream(file));
  });

  app.get('/api/status', { config: operator }, async () => ({ model: ctx.model(), cameras: ctx.cameras(), counts: ctx.store.countByVerdict() }));

  const publish = (recorded: RecordedReview[]) => {
    // Stored first (the transaction returned), then announced: uploads relabel from these events.
    for (const r of recorded) {
      ctx.bus.emit('review', r);
      ctx.sse.send('review', r);
    }
  };

  app.post<{ Body: Static<typeof VerdictBody> }>(
    '/api/reviews',
    { config: operator, schema: { body: VerdictBody, response: { 200: Recorded, 400: ErrorSchema, 404: ErrorSchema } } },
    async (request, reply) => {
      const { ids, decision, label, note } = request.body;
      if (decision === 'relabeled' && label === undefined) return reply.status(400).send({ error: 'body/label: required to relabel', code: 'BAD_REQUEST' });
      if (decision !== 'relabeled' && label !== undefined) return reply.status(400).send({ error: 'body/label: only for relabeled', code: 'BAD_REQUEST' });
      const recorded = ctx.queue.record({ ids, decision, label, note, user: request.principal!.user.name });
      publish(recorded);
      return { reviews: recorded };
    },
  );

  app.post<{ Body: Static<typeof UndoBody> }>(
    '/api/reviews/undo',
    { config: operator, schema: { body: UndoBody, response: { 200: Recorded } } },
    async (request) => {
      const recorded = ctx.queue.undo({ ids: request.body.ids, user: request.principal!.user.name });
      publish(recorded);
      return { reviews: recorded };
    },
  );

  app.get('/api/events', { config: operator }, async (request, reply) => {
    const owner = request.principal!.user.name;
    const max = ctx.config.auth.maxEventStreamsPerUser;
    if (ctx.sse.streamsOf(owner) >= max)
      return reply.status(429).send({ error: `${owner} already has ${max} live-update streams open (review.auth.maxEventStreamsPerUser); close a tab`, code: 'TOO_MANY_STREAMS' });
    reply.hijack();
    ctx.sse.add(reply.raw, owner);
  });
};
