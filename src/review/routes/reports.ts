// The shift report of a time range: as CSV for spreadsheets, and as a printable page rendered
// here (no script; print it to PDF from the browser). Both for signed-in users, like the API.
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { csvRow } from '../../common/csv.js';
import { agreementRate, COUNT_KEYS, shiftReport, type ShiftCounts, type ShiftDefect, type ShiftReport } from '../../store/index.js';
import type { ReviewContext } from '../context.js';

/** Without from/to: the last 8 hours, one shift. */
export const DEFAULT_SHIFT_MS = 8 * 3600_000;

const ReportQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ maxLength: 40, description: 'Start (inclusive): ISO date-time (UTC unless it has an offset) or epoch ms. Default: 8 hours before to.' })),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'End (exclusive), as from. Default: now.' })),
    top: Type.Integer({ minimum: 0, maximum: 100, default: 12, description: 'Highest-scoring defects listed.' }),
  },
  { additionalProperties: false },
);
type ReportQuery = Static<typeof ReportQuery>;

/** Answered 400 with the message by the server's error handler. */
class BadQueryError extends Error {
  readonly statusCode = 400;
  readonly code = 'BAD_REQUEST';
}

function parseTime(name: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) || !value.includes('T') ? value : `${value}Z`);
  if (!Number.isFinite(ms)) throw new BadQueryError(`querystring/${name}: not a date or time (expected e.g. 2026-03-01T06:00:00Z or epoch ms): ${value}`);
  return ms;
}

function reportOf(ctx: ReviewContext, query: ReportQuery): ShiftReport {
  const to = query.to === undefined ? (ctx.now ?? Date.now)() : parseTime('to', query.to);
  const from = query.from === undefined ? to - DEFAULT_SHIFT_MS : parseTime('from', query.from);
  if (from >= to) throw new BadQueryError('querystring/from: must be before to');
  return shiftReport(ctx.store.db, { from, to }, { topDefects: query.top });
}

const iso = (ms: number) => new Date(ms).toISOString();
/** `2026-03-01 06:00 UTC`: what a person reads on paper. */
const readable = (ms: number) => `${iso(ms).slice(0, 16).replace('T', ' ')} UTC`;
const percent = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
const rateOf = (part: number, whole: number) => (whole > 0 ? part / whole : undefined);

/** Where a top defect's thumbnail comes from: the stored images route (signed-in only). */
function thumbnailUrl(d: ShiftDefect): string | undefined {
  return d.hasOverlay ? `/api/inspections/${d.id}/overlay` : d.hasImage ? `/api/inspections/${d.id}/image` : undefined;
}

// The counts in COUNT_KEYS order, then the agreement rate.
const CSV_COLUMNS = ['from', 'to', 'camera', 'total', 'ok', 'uncertain', 'defect', 'reviewed', 'unreviewed', 'needs_expert', 'flagged_unreviewed', 'agreed', 'disagreed', 'agreement'];

export function shiftCsv(report: ShiftReport): string {
  const range = [iso(report.from), iso(report.to)];
  const counts = (camera: string, c: ShiftCounts) => csvRow([...range, camera, ...COUNT_KEYS.map((k) => c[k]), agreementRate(c)?.toFixed(4)]);
  const lines = [csvRow(CSV_COLUMNS), ...report.cameras.map((c) => counts(c.cameraId, c)), counts('all', report.totals)];
  // A second table after a blank line: spreadsheets open both.
  lines.push('', csvRow(['rank', 'inspection_id', 'camera', 'captured_at', 'score', 'review_label', 'thumbnail']));
  report.topDefects.forEach((d, i) => lines.push(csvRow([i + 1, d.id, d.cameraId, iso(d.capturedAt), d.score, d.reviewLabel, thumbnailUrl(d)])));
  return `${lines.join('\r\n')}\r\n`;
}

function escape(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #111; }
body { margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.range { margin: 0; color: #444; }
form { margin: 12px 0; display: flex; gap: 8px; align-items: end; flex-wrap: wrap; }
label { display: flex; flex-direction: column; font-size: 12px; color: #444; }
input { font: inherit; padding: 4px 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #bbb; padding: 4px 6px; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid #333; }
.defects { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
figure { margin: 0; border: 1px solid #bbb; padding: 4px; break-inside: avoid; }
figure img { width: 100%; aspect-ratio: 1; object-fit: contain; background: #000; display: block; }
figure .none { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; color: #666; background: #eee; }
figcaption { font-size: 12px; margin-top: 4px; }
.empty { color: #666; }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; }
  .no-print { display: none; }
  h2 { break-after: avoid; }
  table { break-inside: avoid; }
}
`;
const CSP = ["default-src 'none'", "img-src 'self'", `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`, "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"].join('; ');

export function shiftPage(report: ShiftReport, query: { from?: string; to?: string }): string {
  const countsRow = (name: string, c: ShiftCounts, cls = '') =>
    `<tr${cls ? ` class="${cls}"` : ''}><td>${escape(name)}</td>${[c.total, c.ok, c.uncertain, c.defect].map((n) => `<td>${n}</td>`).join('')}<td>${percent(rateOf(c.defect, c.total))}</td>` +
    `${[c.reviewed, c.unreviewed, c.flaggedUnreviewed, c.needsExpert].map((n) => `<td>${n}</td>`).join('')}<td>${percent(agreementRate(c))}</td></tr>`;
  const cell = (verdict: string, reviewer: string) => report.agreement.matrix.find((m) => m.verdict === verdict && m.reviewer === reviewer)?.n ?? 0;
  const csvHref = `/api/reports/shift.csv?from=${encodeURIComponent(iso(report.from))}&amp;to=${encodeURIComponent(iso(report.to))}`;
  const defects = report.topDefects.map((d) => {
    const url = thumbnailUrl(d);
    const picture = url ? `<img src="${escape(url)}" alt="defect ${escape(d.id)}">` : '<div class="none">no image stored</div>';
    const review = d.reviewLabel ? ` · reviewed: ${escape(d.reviewLabel)}` : ' · not reviewed';
    return `<figure>${picture}<figcaption>${escape(d.cameraId)} · ${escape(readable(d.capturedAt))}<br>score ${d.score.toFixed(3)}${review}</figcaption></figure>`;
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shift report ${escape(readable(report.from))} – ${escape(readable(report.to))}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Shift report</h1>
<p class="range">${escape(readable(report.from))} – ${escape(readable(report.to))}</p>
<form class="no-print" method="get" action="/reports/shift">
<label>From <input name="from" value="${escape(query.from ?? iso(report.from))}"></label>
<label>To <input name="to" value="${escape(query.to ?? iso(report.to))}"></label>
<button type="submit">Show</button>
<a href="${csvHref}">CSV</a>
<span>Print this page (Ctrl+P) for a PDF.</span>
</form>
<h2>Inspections by camera</h2>
<table>
<thead><tr><th>camera</th><th>inspected</th><th>ok</th><th>uncertain</th><th>defect</th><th>defect rate</th><th>reviewed</th><th>unreviewed</th><th>flagged, unreviewed</th><th>needs expert</th><th>agreement</th></tr></thead>
<tbody>
${report.cameras.map((c) => countsRow(c.cameraId, c)).join('\n')}
${countsRow('all cameras', report.totals, 'total')}
</tbody>
</table>
<h2>Model and reviewers</h2>
<table>
<thead><tr><th>model said</th><th>reviewer: good</th><th>reviewer: defect</th><th>needs expert</th></tr></thead>
<tbody>
${(['ok', 'uncertain', 'defect'] as const).map((v) => `<tr><td>${v}</td><td>${cell(v, 'good')}</td><td>${cell(v, 'defect')}</td><td>${cell(v, 'needs-expert')}</td></tr>`).join('\n')}
</tbody>
</table>
<p>Agreed ${report.totals.agreed}, disagreed ${report.totals.disagreed}: agreement ${percent(report.agreement.rate)} (uncertain frames and those waiting for an expert count in neither).</p>
<h2>Top defects</h2>
${defects.length > 0 ? `<div class="defects">\n${defects.join('\n')}\n</div>` : '<p class="empty">No defects in this range.</p>'}
</body>
</html>
`;
}

export const reportRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  const operator = { access: 'operator' as const };

  app.get<{ Querystring: ReportQuery }>('/api/reports/shift.csv', { config: operator, schema: { querystring: ReportQuery } }, async (request, reply) => {
    const report = reportOf(ctx, request.query);
    const name = `shift-${iso(report.from).slice(0, 16).replace(/:/g, '')}-${iso(report.to).slice(0, 16).replace(/:/g, '')}.csv`;
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).header('cache-control', 'no-store').send(shiftCsv(report));
  });

  app.get<{ Querystring: ReportQuery }>('/reports/shift', { config: operator, schema: { querystring: ReportQuery } }, async (request, reply) => {
    const report = reportOf(ctx, request.query);
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-store')
      .send(shiftPage(report, request.query));
  });
};
