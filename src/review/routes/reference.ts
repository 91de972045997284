// The reference ("golden") image per camera: a good frame an engineer chose, shown beside the
// frame under review. Kept in review_settings (survives restarts), audited.
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';
import { CameraId, Id } from './schemas.js';

const CameraParams = Type.Object({ camera: CameraId });
const SetBody = Type.Object({ id: Id }, { additionalProperties: false });
const KEY_PREFIX = 'reference.';

export const referenceRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const db = ctx.store.db;
  const save = db.prepare(
    `INSERT INTO review_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  );
  const remove = db.prepare('DELETE FROM review_settings WHERE key = ?');
  const all = db.prepare<[string], { key: string; value: string; updated_at: number; updated_by: string }>(
    "SELECT key, value, updated_at, updated_by FROM review_settings WHERE key LIKE ? || '%'",
  );

  /** Each camera's reference that still has its image (retention may have taken it). */
  app.get('/api/references', { config: { access: 'operator' } }, async () => {
    const references: Record<string, { id: string; imageUrl: string; setBy: string; setAt: number }> = {};
    for (const r of all.all(KEY_PREFIX)) {
      const id = JSON.parse(r.value) as string;
      if (ctx.store.get(id)?.imagePath) references[r.key.slice(KEY_PREFIX.length)] = { id, imageUrl: `/api/inspections/${id}/image`, setBy: r.updated_by, setAt: r.updated_at };
    }
    return { references };
  });

  app.put<{ Params: Static<typeof CameraParams>; Body: Static<typeof SetBody> }>(
    '/api/references/:camera',
    { config: { access: 'engineer' }, schema: { params: CameraParams, body: SetBody } },
    async (request, reply) => {
      const { camera } = request.params;
      const inspection = ctx.store.get(request.body.id);
      if (!inspection) return reply.status(404).send({ error: 'no such inspection', code: 'NOT_FOUND' });
      if (inspection.cameraId !== camera) return reply.status(400).send({ error: `this frame is from camera ${inspection.cameraId}, not ${camera}`, code: 'WRONG_CAMERA' });
      if (!inspection.imagePath) return reply.status(400).send({ error: 'this frame has no stored image', code: 'NO_IMAGE' });
      const label = ctx.store.reviews.currentLabel(inspection).label;
      if (label !== 'good') return reply.status(400).send({ error: `only a good frame can be the reference; this one is ${label}`, code: 'NOT_GOOD' });
      const user = request.principal!.user.name;
      db.transaction(() => {
        save.run(KEY_PREFIX + camera, JSON.stringify(inspection.id), (ctx.now ?? Date.now)(), user);
        ctx.users.audit({ user, action: 'reference.set', target: camera, detail: { id: inspection.id } });
      })();
      return { cameraId: camera, id: inspection.id, imageUrl: `/api/inspections/${inspection.id}/image` };
    },
  );

  app.delete<{ Params: Static<typeof CameraParams> }>('/api/references/:camera', { config: { access: 'engineer' }, schema: { params: CameraParams } }, async (request, reply) => {
    const user = request.principal!.user.name;
    const removed = db.transaction(() => {
      const n = remove.run(KEY_PREFIX + request.params.camera).changes;
      if (n) ctx.users.audit({ user, action: 'reference.clear', target: request.params.camera });
      return n;
    })();
    return removed ? reply.status(204).send() : reply.status(404).send({ error: 'this camera has no reference', code: 'NOT_FOUND' });
  });
};
