// Sign-in, sign-out, the current user, and creating the first admin on a fresh local install
// (with the one-time setup code the server printed at start).
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isLoopback } from '../../config/load.js';
import { clearSessionCookie, isLoopbackAddress, sameToken, SESSION_COOKIE, setSessionCookie } from '../auth.js';
import type { ReviewContext } from '../context.js';
import { USER_NAME_PATTERN } from '../users.js';
import { ErrorSchema, UserSchema } from './schemas.js';

const Credentials = Type.Object(
  { name: Type.String({ pattern: USER_NAME_PATTERN }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
const Setup = Type.Object(
  {
    name: Type.String({ pattern: USER_NAME_PATTERN }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    code: Type.String({ minLength: 1, maxLength: 64, description: 'the setup code Visor printed at start' }),
  },
  { additionalProperties: false },
);
/** Codes compare without case, spaces or dashes (people retype them). */
const normalCode = (code: string) => code.replace(/[\s-]/g, '').toUpperCase();
const SignedIn = Type.Object({ user: UserSchema, csrf: Type.String() });
const State = Type.Object({ user: Type.Optional(UserSchema), csrf: Type.Optional(Type.String()), setupAvailable: Type.Boolean() });

export const authRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const ttlMs = ctx.config.auth.sessionTtlHours * 3600_000;
  const rateLimit = { max: ctx.config.auth.loginAttemptsPerMinute, timeWindow: 60_000 };

  let setupRunning = false;
  /** The first admin may be created from the browser only on a fresh install reachable from this machine alone. */
  const setupAvailable = (remote: string | undefined) =>
    ctx.setupCode !== undefined && ctx.config.auth.firstAdminSetup && isLoopback(ctx.config.host) && isLoopbackAddress(remote) && ctx.users.count() === 0;

  app.get('/api/auth/state', { config: { access: 'public' }, schema: { response: { 200: State } } }, async (request) => {
    const p = request.principal;
    return { user: p?.user, csrf: p?.csrf, setupAvailable: setupAvailable(request.socket.remoteAddress) };
  });

  app.post<{ Body: Static<typeof Credentials> }>(
    '/api/auth/login',
    { config: { access: 'public', rateLimit }, schema: { body: Credentials, response: { 200: SignedIn, 401: ErrorSchema, 429: ErrorSchema } } },
    async (request, reply) => {
      const { name } = request.body;
      const waitMs = ctx.loginBackoff.waitMs(name);
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        return reply
          .status(429)
          .header('retry-after', String(seconds))
          .send({ error: `too many failed sign-ins for ${name}; try again in ${seconds} s`, code: 'LOGIN_BACKOFF' });
      }
      const user = await ctx.users.checkPassword(name, request.body.password);
      if (!user) {
        ctx.loginBackoff.failed(name);
        request.log.info({ user: name, ip: request.ip }, 'sign-in refused');
        return reply.status(401).send({ error: 'wrong user name or password', code: 'BAD_CREDENTIALS' });
      }
      ctx.loginBackoff.succeeded(name);
      const session = ctx.users.createSession(user, ttlMs);
      setSessionCookie(request, reply, ctx.config.auth, session.token, session.expiresAt);
      request.log.info({ user: user.name, ip: request.ip }, 'signed in');
      return { user, csrf: session.csrf };
    },
  );

  app.post('/api/auth/logout', { config: { access: 'operator' } }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) ctx.users.endSession(token);
    clearSessionCookie(reply);
    return reply.status(204).send();
  });

  app.post<{ Body: Static<typeof Setup> }>(
    '/api/auth/setup',
    { config: { access: 'public', rateLimit }, schema: { body: Setup, response: { 200: SignedIn, 403: ErrorSchema } } },
    async (request, reply) => {
      if (!setupAvailable(request.socket.remoteAddress))
        return reply.status(403).send({ error: 'the first admin can only be created on a fresh install from this machine; use `visor user add`', code: 'SETUP_CLOSED' });
      if (!sameToken(normalCode(request.body.code), normalCode(ctx.setupCode!))) {
        request.log.warn({ ip: request.ip }, 'first-admin setup with a wrong setup code refused');
        return reply.status(403).send({ error: 'wrong setup code: use the one Visor printed on stderr and in its log when it started', code: 'SETUP_CODE' });
      }
      // Two tabs racing must not both create an admin: the first one wins.
      if (setupRunning) return reply.status(403).send({ error: 'the first admin is being created', code: 'SETUP_CLOSED' });
      setupRunning = true;
      let user;
      try {
        user = await ctx.users.add({ name: request.body.name, role: 'admin', password: request.body.password });
      } finally {
        setupRunning = false;
      }
      ctx.users.audit({ user: user.name, action: 'user.setup', target: user.name, detail: { role: 'admin' } });
      const session = ctx.users.createSession(user, ttlMs);
      setSessionCookie(request, reply, ctx.config.auth, session.token, session.expiresAt);
      return { user, csrf: session.csrf };
    },
  );
};
