/// <reference lib="dom" />
// The line board: one tile per camera with the shift's and the last hour's counts, the defect
// rate with its trend over the hour, the last defect, camera and model state; the alarms on
// top. Large type, to be read from a couple of metres; refreshed as inspections are stored
// (the live-update stream), and every half minute for the clock.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, onServerEvent } from './api.js';
import { fmtTime } from './cards.js';
import { StationsPanel } from './stations.js';
import type { Alarm, BoardCamera, Counts, Shift, User } from './types.js';

interface Board {
  now: number;
  shift: Shift;
  model: { name: string; version: string; task: string };
  cameras: BoardCamera[];
  alarms: Alarm[];
}

/** At most one refresh per this interval, however fast inspections arrive. */
const REFRESH_MS = 1000;

const pct = (r: number | undefined) => (r === undefined ? '–' : `${(r * 100).toFixed(r < 0.1 ? 1 : 0)} %`);
const TREND = { up: ['▲', 'rising'], down: ['▼', 'falling'], flat: ['▶', 'steady'], none: ['', 'no earlier hour to compare'] } as const;
const clock = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });

function Sparkline({ series }: { series: (number | null)[] }) {
  const max = Math.max(0.05, ...series.map((v) => v ?? 0));
  const w = 10;
  return h(
    'svg',
    { class: 'spark', viewBox: `0 0 ${series.length * w} 40`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'defect rate per 5 minutes over the last hour' },
    series.map((v, i) =>
      v === null
        ? h('rect', { key: i, x: i * w + 1, y: 38, width: w - 2, height: 2, class: 'empty' })
        : h('rect', { key: i, x: i * w + 1, y: 40 - Math.max(2, (v / max) * 40), width: w - 2, height: Math.max(2, (v / max) * 40), class: v > 0 ? 'bar' : 'zero' }),
    ),
  );
}

function CountRow({ label, counts, big }: { label: string; counts: Counts; big?: boolean }) {
  return h(
    'div',
    { class: `counts${big ? ' big' : ''}` },
    h('span', { class: 'counts-label' }, label),
    (['ok', 'uncertain', 'defect'] as const).map((v) => h('span', { key: v, class: `count ${v}`, 'data-verdict': v }, h('b', null, counts[v]), ` ${v === 'ok' ? 'OK' : v}`)),
  );
}

function Tile({ camera, model }: { camera: BoardCamera; model: Board['model'] }) {
  const [arrow, trendText] = TREND[camera.defectRate.trend];
  const d = camera.lastDefect;
  return h(
    'article',
    { class: `board-tile state-${camera.state}`, 'data-camera': camera.cameraId },
    h(
      'header',
      null,
      h('h2', null, camera.cameraId),
      h('span', { class: `state ${camera.state}` }, camera.state),
      h('span', { class: 'model' }, `${model.name} ${model.version}`),
    ),
    h(
      'div',
      { class: 'rate' },
      h('div', null, h('span', { class: 'rate-value' }, pct(camera.defectRate.lastHour)), h('span', { class: `trend ${camera.defectRate.trend}`, title: trendText }, arrow)),
      h('span', { class: 'rate-label' }, `defect rate, last hour${camera.defectRate.hourBefore !== undefined ? ` (hour before ${pct(camera.defectRate.hourBefore)})` : ''}`),
      h(Sparkline, { series: camera.rateSeries }),
    ),
    h(CountRow, { label: 'shift', counts: camera.shift, big: true }),
    h(CountRow, { label: 'last hour', counts: camera.lastHour }),
    h(
      'a',
      { class: 'last-defect', href: d ? `#/inspection/${d.id}` : undefined },
      d?.imageUrl ? h('img', { src: d.imageUrl, alt: `last defect of ${camera.cameraId}` }) : h('div', { class: 'noimg' }, d ? 'no image' : 'no defect yet'),
      h('span', null, d ? `last defect ${fmtTime(d.capturedAt)} · score ${d.score.toFixed(2)}` : 'no defect stored'),
    ),
    camera.lastError && camera.state !== 'online' ? h('p', { class: 'error' }, camera.lastError) : null,
  );
}

export function BoardPage({ user }: { user: User }) {
  const [board, setBoard] = useState<Board>();
  const [error, setError] = useState('');
  useEffect(() => {
    let timer: number | undefined;
    let last = 0;
    let active = true;
    const load = () => {
      timer = undefined;
      last = Date.now();
      void api<Board>('/api/board').then(
        (b) => {
          if (!active) return;
          setBoard(b);
          setError('');
        },
        (err: Error) => active && setError(err.message),
      );
    };
    const soon = () => {
      if (timer === undefined) timer = window.setTimeout(load, Math.max(0, REFRESH_MS - (Date.now() - last)));
    };
    load();
    const offs = ['inspection', 'cameraStatus', 'open', 'thresholds'].map((e) => onServerEvent(e, soon));
    const tick = setInterval(soon, 30_000);
    return () => {
      active = false;
      offs.forEach((off) => off());
      clearInterval(tick);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, []);
  if (!board) return error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', { class: 'loading' }, 'Loading…');
  return h(
    'section',
    { class: 'board' },
    h(
      'div',
      { class: 'board-head' },
      h('h1', null, `Shift ${clock(board.shift.start)}–${clock(board.shift.end)}`),
      h('span', { class: 'board-clock' }, `updated ${clock(board.now)}`),
      error ? h('span', { class: 'error' }, error) : null,
    ),
    board.alarms.length
      ? h('ul', { class: 'alarms', role: 'alert' }, board.alarms.map((a, i) => h('li', { key: i, class: `alarm ${a.kind}` }, a.message)))
      : h('p', { class: 'all-clear' }, 'No alarms'),
    h('div', { class: 'board-grid' }, board.cameras.map((c) => h(Tile, { key: c.cameraId, camera: c, model: board.model }))),
    h(StationsPanel, { user }),
  );
}
