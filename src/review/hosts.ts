// Which Host names the review UI answers to, and which pages may change state in it.
// A DNS-rebinding page (attacker.example resolving to 127.0.0.1) reaches a loopback-bound
// server from the user's own browser, but its requests carry `Host: attacker.example`: every
// request whose Host is not on the list is refused. A state-changing request on a session
// must also come from a page of an allowed host (Origin, or lacking it, Referer); API token
// requests without a cookie come from programs, not browsers, and skip that check.
import type { FastifyInstance } from 'fastify';
import type { ReviewConfig } from '../config/schema.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '[::]', '']);
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The names (lower case, IPv6 in brackets, no port) requests may carry in Host. */
export function allowedHostNames(config: Pick<ReviewConfig, 'host' | 'allowedHosts'>): Set<string> {
  const bound = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  const names = [...LOOPBACK_NAMES, ...config.allowedHosts, ...(WILDCARD_BINDS.has(config.host) ? [] : [bound])];
  return new Set(names.map((n) => n.toLowerCase()));
}

/** `example:8080` → `example`, `[::1]:8080` → `[::1]`; undefined when it is no host. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]/\s]+)(?::\d{1,5})?$/i.exec(host.trim());
  return match ? match[1]!.toLowerCase() : undefined;
}

/** The host of an Origin or Referer URL; undefined for `null` or anything unparsable. */
function urlHost(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? hostName(url.host) : undefined;
  } catch {
    return undefined;
  }
}

export function registerHostCheck(app: FastifyInstance, config: Pick<ReviewConfig, 'host' | 'allowedHosts'>): void {
  const allowed = allowedHostNames(config);
  app.addHook('onRequest', async (request, reply) => {
    // request.host honours X-Forwarded-Host only when review.auth.trustProxy is on.
    const host = hostName(request.host);
    if (!host || !allowed.has(host)) {
      request.log.warn({ host: request.host, ip: request.ip }, 'request for a host name not in review.allowedHosts refused');
      return reply
        .status(421)
        .send({ error: `this server does not answer to the host name "${request.host ?? ''}"; add it to review.allowedHosts if the UI is reached by that name`, code: 'HOST_NOT_ALLOWED' });
    }
    if (!STATE_CHANGING.has(request.method)) return;
    // A bearer token without a cookie is a program (a browser never adds the header by itself).
    if (request.headers.authorization !== undefined && request.headers.cookie === undefined) return;
    const origin = request.headers.origin ?? request.headers.referer;
    if (origin === undefined) return;
    const from = urlHost(origin);
    if (!from || !allowed.has(from)) {
      request.log.warn({ origin, ip: request.ip, url: request.url }, 'cross-origin request refused');
      return reply.status(403).send({ error: `requests from the page ${JSON.stringify(origin)} are refused: its host is not this server's nor in review.allowedHosts`, code: 'CROSS_ORIGIN' });
    }
  });
}
