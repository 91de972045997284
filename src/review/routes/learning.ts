// The learning loop for reviewers (docs/learning.md): its state (candidate, fit progress, shadow
// share, the rule), the comparison of candidate and live model, and the actions of engineers
// and admins: fit a candidate, promote it, roll back, upload it for the fleet. Each action is audited.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { VisorError } from '../../common/errors.js';
import type { Learning } from '../../learning/index.js';
import type { ReviewContext } from '../context.js';

export const learningRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const operator = { access: 'operator' as const };
  const engineer = { access: 'engineer' as const };
  const unavailable = (reply: FastifyReply) => reply.status(503).send({ error: 'the learning loop is off (learning.enabled)', code: 'UNAVAILABLE' });
  /** Runs an action of the loop; its refusals (409, 400, 503) are answered with their reason. */
  const act = async <T>(reply: FastifyReply, run: (learning: Learning) => Promise<T>): Promise<T | FastifyReply> => {
    if (!ctx.learning) return unavailable(reply);
    try {
      return await run(ctx.learning);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (err instanceof VisorError && status !== undefined && status < 500) return reply.status(status).send({ error: err.message, code: err.code });
      throw err;
    }
  };

  app.get('/api/learning', { config: operator }, async (_request, reply) => (ctx.learning ? ctx.learning.status() : unavailable(reply)));

  app.get('/api/learning/comparison', { config: operator }, async (_request, reply) => {
    if (!ctx.learning) return unavailable(reply);
    const comparison = ctx.learning.comparison();
    if (!comparison) return reply.status(404).send({ error: 'no candidate runs in shadow', code: 'NO_CANDIDATE' });
    return comparison;
  });

  app.post('/api/learning/train', { config: engineer }, async (request, reply) =>
    act(reply, async (learning) => {
      const user = request.principal!.user.name;
      const started = await learning.train(`review:${user}`);
      ctx.users.audit({ user, action: 'learning.train', target: started.version });
      return reply.status(202).send(started);
    }),
  );

  app.post('/api/learning/promote', { config: engineer }, async (request, reply) =>
    act(reply, async (learning) => {
      const user = request.principal!.user.name;
      const change = await learning.promote(user);
      ctx.users.audit({ user, action: 'learning.promote', target: change.toVersion, detail: { from: change.fromVersion } });
      return change;
    }),
  );

  app.post('/api/learning/rollback', { config: engineer }, async (request, reply) =>
    act(reply, async (learning) => {
      const user = request.principal!.user.name;
      const change = await learning.rollback(user);
      ctx.users.audit({ user, action: 'learning.rollback', target: change.toVersion, detail: { from: change.fromVersion } });
      return change;
    }),
  );

  app.post('/api/learning/upload', { config: engineer }, async (request, reply) =>
    act(reply, async (learning) => {
      const user = request.principal!.user.name;
      const fleet = await learning.uploadCandidate();
      ctx.users.audit({ user, action: 'learning.upload', target: fleet.prefix });
      return fleet;
    }),
  );
};
