// Settings for engineers: thresholds per camera (bounded by the model's score range, with a
// preview of what would change, confirmation of big changes, reset to the model's calibrated
// value and where the value in force came from), the reference image per camera, and the audit log.
import type Database from 'better-sqlite3';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../../common/errors.js';
import type { Thresholds } from '../../common/types.js';
import type { ReviewContext } from '../context.js';
import { changeSize, scoreRange, thresholdProblems } from '../thresholds.js';
import { CameraId, ThresholdsSchema } from './schemas.js';

const CameraParams = Type.Object({ camera: CameraId });
const PreviewBody = Type.Object({ thresholds: ThresholdsSchema, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20_000 })) }, { additionalProperties: false });
const SetBody = Type.Composite([ThresholdsSchema, Type.Object({ confirm: Type.Optional(Type.Boolean()) })], { additionalProperties: false });
const AuditQuery = Type.Object(
  { limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }), before: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
);

const KEY_PREFIX = 'thresholds.';

export interface SavedThresholds {
  thresholds: Thresholds;
  by: string;
  at: number;
}

/** Thresholds set in the UI, per camera, with who set them; the extension applies them again at start. */
export function savedThresholds(db: Database.Database): Record<string, SavedThresholds> {
  const rows = db
    .prepare<[string], { key: string; value: string; updated_at: number; updated_by: string }>("SELECT key, value, updated_at, updated_by FROM review_settings WHERE key LIKE ? || '%'")
    .all(KEY_PREFIX);
  return Object.fromEntries(rows.map((r) => [r.key.slice(KEY_PREFIX.length), { thresholds: JSON.parse(r.value) as Thresholds, by: r.updated_by, at: r.updated_at }]));
}

export const settingsRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const engineer = { access: 'engineer' as const };
  const save = ctx.store.db.prepare(
    `INSERT INTO review_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  );
  const known = (camera: string) => ctx.cameras().some((c) => c.cameraId === camera);
  const unavailable = (reply: FastifyReply) => reply.status(503).send({ error: 'thresholds cannot be changed in this process', code: 'UNAVAILABLE' });
  const task = () => ctx.model().task;
  /** 400 naming each field that is out of bounds, in sentences; undefined when the values are fine. */
  const outOfBounds = (reply: FastifyReply, t: Thresholds) => {
    const fields = thresholdProblems(t, task());
    if (Object.keys(fields).length === 0) return undefined;
    return reply.status(400).send({ error: Object.values(fields).join(' '), code: 'OUT_OF_BOUNDS', fields });
  };

  /** Applies, saves, audits and announces; the caller has checked camera and bounds. */
  const apply = (camera: string, next: Thresholds, user: string, action: string) => {
    const control = ctx.control!;
    const before = control.thresholds(camera);
    control.setThresholds({ defect: next.defect, uncertainBand: next.uncertainBand }, { cameraId: camera, source: `review:${user}` });
    const after = control.thresholds(camera);
    ctx.store.db.transaction(() => {
      save.run(KEY_PREFIX + camera, JSON.stringify(after), (ctx.now ?? Date.now)(), user);
      ctx.users.audit({ user, action, target: camera, detail: { before, after } });
    })();
    // Open tabs hear of it through the bus's `thresholds` event (server.ts).
    return { cameraId: camera, thresholds: after, source: ctx.thresholdSources.get(camera) };
  };

  app.get('/api/settings/thresholds', { config: engineer }, async (_request, reply) => {
    if (!ctx.control) return unavailable(reply);
    const control = ctx.control;
    const { defect, uncertainBand } = control.inferencer.manifest.thresholds;
    return {
      model: ctx.model(),
      scoreRange: scoreRange(task()),
      calibrated: { defect, uncertainBand },
      confirmChange: ctx.config.thresholdConfirmChange,
      cameras: ctx.cameras().map((c) => ({ cameraId: c.cameraId, thresholds: control.thresholds(c.cameraId), source: ctx.thresholdSources.get(c.cameraId) })),
    };
  });

  app.post<{ Params: Static<typeof CameraParams>; Body: Static<typeof PreviewBody> }>(
    '/api/settings/thresholds/:camera/preview',
    { config: engineer, schema: { params: CameraParams, body: PreviewBody } },
    async (request, reply) => {
      if (!ctx.control) return unavailable(reply);
      if (!known(request.params.camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
      const bad = outOfBounds(reply, request.body.thresholds);
      if (bad) return bad;
      // Only inspections scored by the running model: another model's scores are on another scale.
      return ctx.queue.preview({
        camera: request.params.camera,
        model: ctx.model().version,
        current: ctx.control.thresholds(request.params.camera),
        thresholds: request.body.thresholds,
        limit: request.body.limit ?? 2000,
      });
    },
  );

  app.put<{ Params: Static<typeof CameraParams>; Body: Static<typeof SetBody> }>(
    '/api/settings/thresholds/:camera',
    { config: engineer, schema: { params: CameraParams, body: SetBody } },
    async (request, reply) => {
      const { camera } = request.params;
      if (!ctx.control) return unavailable(reply);
      if (!known(camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
      const { confirm, ...next } = request.body;
      const bad = outOfBounds(reply, next);
      if (bad) return bad;
      const size = changeSize(ctx.control.thresholds(camera), next);
      if (size > ctx.config.thresholdConfirmChange && confirm !== true)
        return reply.status(409).send({
          error: `this moves the threshold by ${Math.round(size * 100)} %, more than review.thresholdConfirmChange (${Math.round(ctx.config.thresholdConfirmChange * 100)} %); send confirm: true to apply it`,
          code: 'CONFIRM',
          change: size,
        });
      try {
        return apply(camera, next, request.principal!.user.name, 'thresholds.set');
      } catch (err) {
        if (err instanceof ConfigError) return reply.status(400).send({ error: err.issues.join('; '), code: err.code });
        throw err;
      }
    },
  );

  // Back to the running model's calibrated thresholds, as an explicit value for this camera.
  app.post<{ Params: Static<typeof CameraParams> }>('/api/settings/thresholds/:camera/reset', { config: engineer, schema: { params: CameraParams } }, async (request, reply) => {
    const { camera } = request.params;
    if (!ctx.control) return unavailable(reply);
    if (!known(camera)) return reply.status(404).send({ error: 'no such camera', code: 'NOT_FOUND' });
    return apply(camera, ctx.control.inferencer.manifest.thresholds, request.principal!.user.name, 'thresholds.reset');
  });

  app.get<{ Querystring: Static<typeof AuditQuery> }>('/api/audit', { config: engineer, schema: { querystring: AuditQuery } }, async (request) => ({
    entries: ctx.users.auditLog(request.query.limit, request.query.before),
  }));
};
