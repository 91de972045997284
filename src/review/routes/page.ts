import type { FastifyPluginAsync } from 'fastify';
import type { ReviewDeps } from '../server.js';

// A plain page of recent inspections; the full review UI is its own piece of work.
// It renders from the JSON API, so what it shows is what the API serves.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Visor</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
  header { padding: 12px 16px; background: #1c1c1c; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  h1 { font-size: 18px; margin: 0; }
  .cam { padding: 2px 8px; border-radius: 4px; background: #333; }
  .online { color: #7d7; } .reconnecting, .starting { color: #dd7; } .offline, .stopped { color: #e77; }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; padding: 16px; }
  figure { margin: 0; background: #1c1c1c; border-radius: 6px; overflow: hidden; border: 2px solid transparent; }
  figure.defect { border-color: #e55; } figure.uncertain { border-color: #db3; }
  figure img { width: 100%; aspect-ratio: 1; object-fit: contain; background: #000; display: block; }
  figure .noimg { aspect-ratio: 1; display: grid; place-items: center; color: #777; }
  figcaption { padding: 6px 8px; font-size: 12px; }
  .verdict { font-weight: 600; text-transform: uppercase; }
</style>
</head>
<body>
<header><h1>Visor</h1><span id="model"></span><span id="cameras"></span><span id="counts"></span></header>
<main id="list" aria-live="polite"></main>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
async function refresh() {
  const [status, list] = await Promise.all([fetch('/api/status').then((r) => r.json()), fetch('/api/inspections?limit=60').then((r) => r.json())]);
  document.getElementById('model').textContent = 'model ' + status.model.name + ' ' + status.model.version;
  document.getElementById('cameras').innerHTML = status.cameras.map((c) =>
    '<span class="cam ' + esc(c.state) + '" data-camera="' + esc(c.cameraId) + '">' + esc(c.cameraId) + ': ' + esc(c.state) + ' · ' + c.framesIn + ' frames · ' + c.framesDropped + ' dropped</span>').join(' ');
  document.getElementById('counts').textContent = 'ok ' + status.counts.ok + ' · uncertain ' + status.counts.uncertain + ' · defect ' + status.counts.defect;
  document.getElementById('list').innerHTML = list.items.map((i) => {
    const src = i.overlayUrl || i.imageUrl;
    const img = src ? '<img loading="lazy" alt="' + esc(i.verdict) + ' frame" src="' + esc(src) + '">' : '<div class="noimg">no image stored</div>';
    return '<figure class="inspection ' + esc(i.verdict) + '" data-id="' + esc(i.id) + '">' + img + '<figcaption><span class="verdict">' + esc(i.verdict) +
      '</span> ' + i.score.toFixed(3) + '<br>' + esc(i.cameraId) + ' #' + i.frameSeq + '<br>' + new Date(i.capturedAt).toLocaleTimeString() + '</figcaption></figure>';
  }).join('');
}
refresh().catch(console.error);
setInterval(() => refresh().catch(console.error), 2000);
</script>
</body>
</html>`;

export const pageRoutes: FastifyPluginAsync<ReviewDeps> = async (app) => {
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; img-src 'self'")
      .send(PAGE),
  );
};
