// Users and API tokens (admin only). Every change is audited.
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';
import { AuthError, USER_NAME_PATTERN } from '../users.js';
import { RoleSchema, UserSchema } from './schemas.js';

const NameParams = Type.Object({ name: Type.String({ pattern: USER_NAME_PATTERN }) });
const NewUser = Type.Object(
  { name: Type.String({ pattern: USER_NAME_PATTERN }), role: RoleSchema, password: Type.String({ minLength: 8, maxLength: 1024 }) },
  { additionalProperties: false },
);
const UserChange = Type.Object(
  { role: Type.Optional(RoleSchema), password: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const NewToken = Type.Object({ user: Type.String({ pattern: USER_NAME_PATTERN }), label: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
const TokenParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const userRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const admin = { access: 'admin' as const };

  app.get('/api/users', { config: admin, schema: { response: { 200: Type.Object({ users: Type.Array(UserSchema) }) } } }, async () => ({ users: ctx.users.list() }));

  app.post<{ Body: Static<typeof NewUser> }>('/api/users', { config: admin, schema: { body: NewUser, response: { 201: UserSchema } } }, async (request, reply) => {
    const user = await ctx.users.add(request.body);
    ctx.users.audit({ user: request.principal!.user.name, action: 'user.add', target: user.name, detail: { role: user.role } });
    return reply.status(201).send(user);
  });

  app.patch<{ Params: Static<typeof NameParams>; Body: Static<typeof UserChange> }>(
    '/api/users/:name',
    { config: admin, schema: { params: NameParams, body: UserChange, response: { 200: UserSchema } } },
    async (request) => {
      const { name } = request.params;
      const target = ctx.users.get(name);
      if (!target) throw new AuthError('NOT_FOUND', `no user "${name}"`, 404);
      const losesAdmin = target.role === 'admin' && !target.disabled && ((request.body.role !== undefined && request.body.role !== 'admin') || request.body.disabled === true);
      const admins = ctx.users.list().filter((u) => u.role === 'admin' && !u.disabled).length;
      if (losesAdmin && admins <= 1) throw new AuthError('LAST_ADMIN', 'the last admin cannot be demoted or disabled', 409);
      const user = await ctx.users.update(name, request.body);
      const { password, ...changed } = request.body;
      ctx.users.audit({ user: request.principal!.user.name, action: 'user.update', target: name, detail: { ...changed, passwordChanged: password !== undefined } });
      return user;
    },
  );

  app.get('/api/tokens', { config: admin }, async () => ({ tokens: ctx.users.listTokens() }));

  // The token is shown once, here; only its hash is stored.
  app.post<{ Body: Static<typeof NewToken> }>('/api/tokens', { config: admin, schema: { body: NewToken } }, async (request, reply) => {
    const { id, token } = ctx.users.createToken(request.body.user, request.body.label);
    ctx.users.audit({ user: request.principal!.user.name, action: 'token.create', target: request.body.user, detail: { id, label: request.body.label } });
    return reply.status(201).send({ id, token });
  });

  app.delete<{ Params: Static<typeof TokenParams> }>('/api/tokens/:id', { config: admin, schema: { params: TokenParams } }, async (request, reply) => {
    if (!ctx.users.revokeToken(request.params.id)) return reply.status(404).send({ error: 'no such active token', code: 'NOT_FOUND' });
    ctx.users.audit({ user: request.principal!.user.name, action: 'token.revoke', target: String(request.params.id) });
    return reply.status(204).send();
  });
};
