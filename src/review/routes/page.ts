// The single-page UI, built by vite into dist/ui (`npm run build`). The shell and its assets
// are public (they hold no data); everything they show comes from the signed-in API.
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ReviewContext } from '../context.js';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

// One path segment, no leading dot: "../" cannot be expressed.
const AssetParams = Type.Object({ file: Type.String({ pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$' }) });

function secure(reply: FastifyReply): FastifyReply {
  return reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
}

export const pageRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const index = path.join(ctx.uiDir, 'index.html');
  const assets = path.join(ctx.uiDir, 'assets');

  app.get('/', { config: { access: 'public' } }, async (_request, reply) => {
    secure(reply).header('content-security-policy', CSP).header('cache-control', 'no-cache');
    if (!existsSync(index))
      return reply.status(503).type('text/plain; charset=utf-8').send('The review UI is not built. Run `npm run build` in the Visor folder, then restart.\n');
    return reply.type('text/html; charset=utf-8').send(createReadStream(index));
  });

  // Browsers ask for /favicon.ico on every load unless the page names an icon; both get the one icon.
  const icon = path.join(ctx.uiDir, 'favicon.svg');
  for (const url of ['/favicon.ico', '/favicon.svg'])
    app.get(url, { config: { access: 'public' } }, async (_request, reply) => {
      if (!existsSync(icon)) return reply.status(404).send({ error: 'not found', code: 'NOT_FOUND' });
      return secure(reply).type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(createReadStream(icon));
    });

  app.get<{ Params: Static<typeof AssetParams> }>('/assets/:file', { config: { access: 'public' }, schema: { params: AssetParams } }, async (request, reply) => {
    const file = path.join(assets, request.params.file);
    const type = TYPES[path.extname(file)];
    if (!type || path.dirname(file) !== assets || !existsSync(file)) return reply.status(404).send({ error: 'not found', code: 'NOT_FOUND' });
    // Vite puts a content hash in every asset name: cache for good.
    return secure(reply).type(type).header('cache-control', 'public, max-age=31536000, immutable').send(createReadStream(file));
  });
};
