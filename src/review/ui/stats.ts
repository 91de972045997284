/// <reference lib="dom" />
// Stats with uPlot: defect rate and throughput per camera over time, score histogram with the threshold, agreement.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { api, query } from './api.js';
import type { Thresholds } from './types.js';

interface Stats {
  from: number;
  to: number;
  bucketMs: number;
  series: { cameraId: string; t: number[]; total: number[]; defect: number[]; uncertain: number[] }[];
  totals: { ok: number; uncertain: number; defect: number };
  latencyMs: { inference: { p50: number; p99: number }; total: { p50: number; p99: number }; samples: number };
  histogram: { edges: number[]; counts: number[]; samples: number };
  agreement: { verdict: string; decision: string; n: number }[];
  reviewers: { user: string; n: number }[];
  thresholds: Record<string, Thresholds | undefined>;
}

const RANGES: [string, number][] = [
  ['15 min', 15 * 60_000],
  ['1 hour', 3600_000],
  ['24 hours', 86_400_000],
  ['7 days', 7 * 86_400_000],
];
const COLOURS = ['#4ea1ff', '#f5a623', '#7ed321', '#bd10e0', '#50e3c2', '#e94e77'];

function Chart({ opts, data }: { opts: Omit<uPlot.Options, 'width' | 'height'>; data: uPlot.AlignedData }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current!;
    const plot = new uPlot({ width: Math.max(300, el.clientWidth), height: 220, ...opts } as uPlot.Options, data, el);
    return () => plot.destroy();
  }, [JSON.stringify(data), JSON.stringify(opts.series?.map((s) => s.label))]);
  return h('div', { class: 'chart', ref });
}

const axes = (yLabel: string): uPlot.Axis[] => [
  { stroke: '#aaa', grid: { stroke: '#333' }, ticks: { stroke: '#333' } },
  { stroke: '#aaa', grid: { stroke: '#333' }, ticks: { stroke: '#333' }, label: yLabel },
];

/** The report of the last `rangeMs` (from inclusive, to now). */
function reportHref(path: string, rangeMs: number): string {
  const to = Date.now();
  return `${path}?from=${encodeURIComponent(new Date(to - rangeMs).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
}

export function StatsPage() {
  const [range, setRange] = useState(RANGES[0]![1]);
  const [stats, setStats] = useState<Stats>();
  const [error, setError] = useState('');
  useEffect(() => {
    const load = () =>
      api<Stats>('/api/stats' + query({ from: Date.now() - range, to: Date.now(), buckets: 60 })).then(
        (s) => {
          setStats(s);
          setError('');
        },
        (err: Error) => setError(err.message),
      );
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [range]);
  if (error) return h('p', { class: 'error', role: 'alert' }, error);
  if (!stats) return h('p', { class: 'loading' }, 'Loading…');

  const t = stats.series[0]?.t ?? [];
  const rate: uPlot.AlignedData = [t, ...stats.series.map((s) => s.total.map((n, i) => (n === 0 ? null : (100 * s.defect[i]!) / n)))];
  const throughput: uPlot.AlignedData = [t, ...stats.series.map((s) => s.total.map((n) => (n * 60_000) / stats.bucketMs))];
  const camSeries = (unit: string) => stats.series.map((s, i): uPlot.Series => ({ label: s.cameraId, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: false }, value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} ${unit}`) }));
  const threshold = Object.values(stats.thresholds).find((x) => !!x);
  const width = (stats.histogram.edges[1] ?? 1) - (stats.histogram.edges[0] ?? 0);
  const hist: uPlot.AlignedData = [stats.histogram.edges.map((e) => e + width / 2), stats.histogram.counts];
  const histRange: uPlot.Range.MinMax = [
    Math.min(stats.histogram.edges[0] ?? 0, threshold ? threshold.defect - threshold.uncertainBand : Infinity),
    Math.max((stats.histogram.edges.at(-1) ?? 0) + width, threshold ? threshold.defect + width : -Infinity),
  ];
  const drawThreshold = (u: uPlot) => {
    if (!threshold) return;
    const ctx = u.ctx;
    ctx.save();
    for (const [value, colour] of [
      [threshold.defect, '#ff5a5a'],
      [threshold.defect - threshold.uncertainBand, '#e0b000'],
    ] as const) {
      const x = u.valToPos(value, 'x', true);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
  const flagged = (v: string) => stats.agreement.filter((a) => a.verdict === v);
  const n = (v: string, d: string) => stats.agreement.find((a) => a.verdict === v && a.decision === d)?.n ?? 0;
  const confirmed = n('defect', 'confirmed') + n('uncertain', 'confirmed');
  const rejected = n('defect', 'rejected') + n('uncertain', 'rejected');
  const total = stats.totals.ok + stats.totals.uncertain + stats.totals.defect;

  return h(
    'section',
    { class: 'stats' },
    h(
      'div',
      { class: 'toolbar' },
      RANGES.map(([label, ms]) => h('button', { key: label, class: ms === range ? 'active' : '', onClick: () => setRange(ms) }, label)),
      // The shift report of the range shown: a printable page and its CSV.
      h('a', { class: 'report', href: reportHref('/reports/shift', range), target: '_blank', rel: 'noopener' }, 'Shift report'),
      h('a', { class: 'report csv', href: reportHref('/api/reports/shift.csv', range) }, 'CSV'),
    ),
    h(
      'div',
      { class: 'cards' },
      h('div', { class: 'card-stat' }, h('b', null, total), ' inspections'),
      h('div', { class: 'card-stat' }, h('b', null, total ? ((100 * stats.totals.defect) / total).toFixed(1) + ' %' : '–'), ' defect rate'),
      h('div', { class: 'card-stat' }, h('b', null, `${stats.latencyMs.inference.p50.toFixed(0)} / ${stats.latencyMs.inference.p99.toFixed(0)} ms`), ' inference p50 / p99'),
      h('div', { class: 'card-stat' }, h('b', null, `${stats.latencyMs.total.p50.toFixed(0)} / ${stats.latencyMs.total.p99.toFixed(0)} ms`), ' frame → stored p50 / p99'),
      h(
        'div',
        { class: 'card-stat', id: 'agreement' },
        h('b', null, confirmed + rejected ? `${((100 * confirmed) / (confirmed + rejected)).toFixed(0)} %` : '–'),
        ` of reviewed flags confirmed (${confirmed} confirmed, ${rejected} false positives)`,
      ),
    ),
    h('h3', null, 'Defect rate per camera (%)'),
    t.length ? h(Chart, { opts: { series: [{}, ...camSeries('%')], axes: axes('%'), scales: { x: { time: true } } }, data: rate }) : h('p', { class: 'empty' }, 'No inspections in this range.'),
    h('h3', null, 'Throughput (inspections per minute)'),
    t.length ? h(Chart, { opts: { series: [{}, ...camSeries('/min')], axes: axes('/min'), scales: { x: { time: true } } }, data: throughput }) : null,
    h('h3', null, `Score histogram (${stats.histogram.samples} newest), threshold dashed`),
    h(Chart, {
      opts: {
        // The bins' edges, not their centres: the first and last bars are drawn whole, and the thresholds fit.
        scales: { x: { time: false, range: (): uPlot.Range.MinMax => histRange } },
        series: [{ label: 'score' }, { label: 'frames', stroke: '#4ea1ff', fill: 'rgba(78,161,255,0.4)', points: { show: false }, paths: uPlot.paths.bars!({ size: [0.9, 100] }) }],
        axes: axes('frames'),
        hooks: { draw: [drawThreshold] },
      },
      data: hist,
    }),
    h('h3', null, 'Review agreement'),
    h(
      'table',
      { class: 'agreement' },
      h('thead', null, h('tr', null, h('th', null, 'flag'), h('th', null, 'confirmed'), h('th', null, 'false positive'), h('th', null, 'relabeled'), h('th', null, 'needs expert'))),
      h(
        'tbody',
        null,
        ['defect', 'uncertain', 'ok'].map((v) =>
          flagged(v).length
            ? h('tr', { key: v }, h('th', null, v), ...['confirmed', 'rejected', 'relabeled', 'needs-expert'].map((d) => h('td', null, n(v, d))))
            : null,
        ),
      ),
    ),
    stats.reviewers.length ? h('p', { class: 'hint' }, 'Verdicts by reviewer: ', stats.reviewers.map((r) => `${r.user} ${r.n}`).join(' · ')) : null,
  );
}
