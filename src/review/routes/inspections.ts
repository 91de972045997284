import { createReadStream } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewDeps } from '../server.js';

const Verdict = Type.Union([Type.Literal('ok'), Type.Literal('uncertain'), Type.Literal('defect')]);

const InspectionSchema = Type.Object({
  id: Type.String(),
  cameraId: Type.String(),
  frameSeq: Type.Integer(),
  capturedAt: Type.Number(),
  inferredAt: Type.Number(),
  decidedAt: Type.Number(),
  verdict: Verdict,
  score: Type.Number(),
  classes: Type.Optional(Type.Array(Type.Object({ label: Type.String(), score: Type.Number() }))),
  boxes: Type.Optional(
    Type.Array(Type.Object({ x1: Type.Number(), y1: Type.Number(), x2: Type.Number(), y2: Type.Number(), label: Type.String(), score: Type.Number() })),
  ),
  model: Type.Object({ name: Type.String(), version: Type.String(), task: Type.String() }),
  thresholds: Type.Object({ defect: Type.Number(), uncertainBand: Type.Number() }),
  timings: Type.Record(Type.String(), Type.Number()),
  imageUrl: Type.Optional(Type.String()),
  overlayUrl: Type.Optional(Type.String()),
  sourceFile: Type.Optional(Type.String()),
});

const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    before: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{36}$' })),
    camera: Type.Optional(Type.String({ maxLength: 63 })),
    verdict: Type.Optional(Verdict),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
const ImageParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }), kind: Type.Union([Type.Literal('image'), Type.Literal('overlay')]) });

type Inspection = ReturnType<ReviewDeps['store']['get']>;

function toApi(i: NonNullable<Inspection>) {
  const { imagePath, overlayPath, ...rest } = i;
  return {
    ...rest,
    timings: { ...rest.timings } as Record<string, number>,
    imageUrl: imagePath ? `/api/inspections/${i.id}/image` : undefined,
    overlayUrl: overlayPath ? `/api/inspections/${i.id}/overlay` : undefined,
  };
}

export const inspectionRoutes: FastifyPluginAsync<ReviewDeps> = async (app, deps) => {
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/inspections',
    { schema: { querystring: ListQuery, response: { 200: Type.Object({ items: Type.Array(InspectionSchema), next: Type.Optional(Type.String()) }) } } },
    async (request) => {
      const { limit, before, camera, verdict } = request.query;
      const items = deps.store.list({ limit, before, cameraId: camera, verdict });
      return { items: items.map(toApi), next: items.length === limit ? items.at(-1)!.id : undefined };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/api/inspections/:id',
    { schema: { params: IdParams, response: { 200: InspectionSchema } } },
    async (request, reply) => {
      const inspection = deps.store.get(request.params.id);
      if (!inspection) return reply.status(404).send({ error: 'no such inspection', code: 'NOT_FOUND' });
      return toApi(inspection);
    },
  );

  app.get<{ Params: Static<typeof ImageParams> }>('/api/inspections/:id/:kind', { schema: { params: ImageParams } }, async (request, reply) => {
    const inspection = deps.store.get(request.params.id);
    const rel = request.params.kind === 'image' ? inspection?.imagePath : inspection?.overlayPath;
    if (!rel) return reply.status(404).send({ error: 'no image stored for this inspection', code: 'NOT_FOUND' });
    let file: string;
    try {
      file = deps.store.imageFile(rel);
    } catch {
      return reply.status(404).send({ error: 'image no longer stored', code: 'NOT_FOUND' });
    }
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(createReadStream(file));
  });

  app.get('/api/status', async () => ({ model: deps.model(), cameras: deps.cameras(), counts: deps.store.countByVerdict() }));
};
