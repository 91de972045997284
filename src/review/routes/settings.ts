// Settings for engineers: thresholds per camera (with a preview of what would change), and the audit log.
import type Database from 'better-sqlite3';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../../common/errors.js';
import type { Thresholds } from '../../common/types.js';
import type { ReviewContext } from '../context.js';
import { CameraId, ThresholdsSchema } from './schemas.js';

const CameraParams = Type.Object({ camera: CameraId });
const PreviewBody = Type.Object({ thresholds: ThresholdsSchema, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20_000 })) }, { additionalProperties: false });
const AuditQuery = Type.Object(
  { limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }), before: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
);

const KEY_PREFIX = 'thresholds.';

/** Thresholds set in the UI, per camera; the extension applies them again at start. */
export function savedThresholds(db: Database.Database): Record<string, Thresholds> {
  const rows = db.prepare<[string], { key: string; value: string }>("SELECT key, value FROM review_settings WHERE key LIKE ? || '%'").all(KEY_PREFIX);
  return Object.fromEntries(rows.map((r) => [r.key.slice(KEY_PREFIX.length), JSON.parse(r.value) as Thresholds]));
}

export const settingsRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const engineer = { access: 'engineer' as const };
  const save = ctx.store.db.prepare(
    `INSERT INTO review_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  );
  const known = (camera: string) => ctx.cameras().some((c) => c.cameraId === camera);

  app.get('/api/settings/thresholds', { config: engineer }, async (_request, reply) => {
    if (!ctx.control) return reply.status(503).send({ error: 'thresholds cannot be changed in this process', code: 'UNAVAILABLE' });
    const control = ctx.control;
    return { model: ctx.model(), cameras: ctx.cameras().map((c) => ({ cameraId: c.cameraId, thresholds: control.thresholds(c.cameraId) })) };
  });

  app.post<{ Params: Static<typeof CameraParams>; Body: Static<typeof PreviewBody> }>(
    '/api/settings/thresholds/:camera/preview',
    { config: engineer, schema: { params: CameraParams, body: PreviewBody } },
    async (request, reply) => {
      if (!known(request.params.camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
      // Only inspections scored by the running model: another model's scores are on another scale.
      return ctx.queue.preview({ camera: request.params.camera, model: ctx.model().version, thresholds: request.body.thresholds, limit: request.body.limit ?? 2000 });
    },
  );

  app.put<{ Params: Static<typeof CameraParams>; Body: Static<typeof ThresholdsSchema> }>(
    '/api/settings/thresholds/:camera',
    { config: engineer, schema: { params: CameraParams, body: ThresholdsSchema } },
    async (request, reply) => {
      const { camera } = request.params;
      if (!ctx.control) return reply.status(503).send({ error: 'thresholds cannot be changed in this process', code: 'UNAVAILABLE' });
      if (!known(camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
      const user = request.principal!.user.name;
      const before = ctx.control.thresholds(camera);
      try {
        ctx.control.setThresholds(request.body, { cameraId: camera, source: `review:${user}` });
      } catch (err) {
        if (err instanceof ConfigError) return reply.status(400).send({ error: err.issues.join('; '), code: err.code });
        throw err;
      }
      const after = ctx.control.thresholds(camera);
      ctx.store.db.transaction(() => {
        save.run(KEY_PREFIX + camera, JSON.stringify(after), Date.now(), user);
        ctx.users.audit({ user, action: 'thresholds.set', target: camera, detail: { before, after } });
      })();
      ctx.sse.send('thresholds', { cameraId: camera, thresholds: after });
      return { cameraId: camera, thresholds: after };
    },
  );

  app.get<{ Querystring: Static<typeof AuditQuery> }>('/api/audit', { config: engineer, schema: { querystring: AuditQuery } }, async (request) => ({
    entries: ctx.users.auditLog(request.query.limit, request.query.before),
  }));
};
