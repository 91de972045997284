// Who may do what: every route declares `config.access` ('public' or the least role it needs);
// a route without one cannot be registered. Sessions come from an HttpOnly, SameSite=Strict
// cookie; state-changing requests on a session must echo its CSRF token in X-CSRF-Token.
// API tokens (Authorization: Bearer visor_…) act as their user and need no CSRF token
// (a browser never sends them on its own).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ReviewConfig } from '../config/schema.js';
import { roleAllows, type Principal, type Role, type UserStore } from './users.js';

export type Access = Role | 'public';
export const SESSION_COOKIE = 'visor_session';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Compares secrets in constant time. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(address);
}

/** Resolves the principal and enforces each route's access on every request. */
export function registerAuth(app: FastifyInstance, deps: { users: UserStore }): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) throw new Error(`route ${route.method} ${route.url} declares no config.access`);
  });
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config?.access;
    request.principal = principalOf(request, deps.users);
    // Unknown URLs (404 handler) carry no access: they reveal nothing and fall through to 404.
    if (access === undefined || access === 'public') return;
    const principal = request.principal;
    if (!principal) return reply.status(401).send({ error: 'sign in first', code: 'UNAUTHENTICATED' });
    if (!roleAllows(principal.user.role, access)) return reply.status(403).send({ error: `needs the ${access} role`, code: 'FORBIDDEN' });
    if (principal.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const header = request.headers[CSRF_HEADER];
      if (typeof header !== 'string' || !sameToken(header, principal.csrf!)) return reply.status(403).send({ error: 'missing or wrong CSRF token', code: 'CSRF' });
    }
  });
}

function principalOf(request: FastifyRequest, users: UserStore): Principal | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    return match ? users.apiToken(match[1]!) : undefined;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? users.session(cookie) : undefined;
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, auth: ReviewConfig['auth'], token: string, expiresAt: number): void {
  const secure = auth.secureCookies === 'always' || (auth.secureCookies === 'auto' && request.protocol === 'https');
  void reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure, path: '/', expires: new Date(expiresAt) });
}

export function clearSessionCookie(reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, { path: '/' });
}
