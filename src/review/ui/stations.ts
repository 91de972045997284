/// <reference lib="dom" />
// The stations on the line board: each station's handshake as the PLC sees it, its counters,
// the last part, and the recipe in force, with the switch for engineers (POST
// /api/stations/:id/recipe: the PLC's own mechanism, made between parts and recorded).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, formErrors, onServerEvent } from './api.js';
import { fmtTime } from './cards.js';
import { partHref, PartSearch, resultText } from './parts.js';
import type { Role, StationInfo, User } from './types.js';

/** The handshake changes without an inspection (Ack, camera state): polled this often while shown. */
const POLL_MS = 1000;
const SIGNALS = [
  ['ready', 'Ready'],
  ['busy', 'Busy'],
  ['resultReady', 'ResultReady'],
  ['ok', 'Ok'],
  ['ng', 'Ng'],
  ['error', 'Error'],
] as const;
const MAY_SELECT: readonly Role[] = ['engineer', 'admin'];

const recipeText = (s: StationInfo, index: number | null) => {
  if (index === null || index < 0) return 'none';
  const name = s.recipes.find((r) => r.index === index)?.name;
  return `${index}${name ? ` (${name})` : ''}`;
};

function RecipeControl({ station, onChanged }: { station: StationInfo; onChanged: (s: StationInfo) => void }) {
  const [index, setIndex] = useState(String(station.status.recipe));
  // A switch from elsewhere (the PLC, another tab) shows in the picker too.
  useEffect(() => setIndex(String(station.status.recipe)), [station.status.recipe]);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const apply = async () => {
    setBusy(true);
    setError('');
    // The switch waits for the part in flight, if any: say so while waiting.
    setStatus(station.status.busy ? 'waiting for the part in flight…' : 'switching…');
    try {
      const updated = await api<StationInfo>(`/api/stations/${station.id}/recipe`, { method: 'POST', body: { index: Number(index) } });
      setStatus(`recipe ${recipeText(updated, updated.status.recipe)} in force`);
      onChanged(updated);
    } catch (err) {
      const { fields, message } = formErrors(err, ['index']);
      setError(fields.index ?? message);
      setStatus('');
    } finally {
      setBusy(false);
    }
  };
  return h(
    'div',
    { class: 'recipe-control' },
    h(
      'select',
      { name: 'recipe', value: index, 'aria-label': `recipe for station ${station.id}`, onChange: (e: Event) => setIndex((e.target as HTMLSelectElement).value) },
      station.recipes.map((r) => h('option', { key: r.index, value: String(r.index) }, recipeText(station, r.index))),
    ),
    h('button', { class: 'apply-recipe', disabled: busy || Number(index) === station.status.recipe, onClick: () => void apply() }, 'Switch recipe'),
    error ? h('span', { class: 'field-error', role: 'alert' }, error) : null,
    h('span', { class: 'status', role: 'status' }, status),
  );
}

function StationTile({ station, user, onChanged }: { station: StationInfo; user: User; onChanged: (s: StationInfo) => void }) {
  const { status, lastPart } = station;
  const c = status.counters;
  return h(
    'article',
    { class: 'station-tile', 'data-station': station.id },
    h('header', null, h('h2', null, `Station ${station.id}`), h('span', { class: 'meta' }, station.cameras.join(' · '))),
    h(
      'div',
      { class: 'signals' },
      SIGNALS.map(([key, label]) => h('span', { key, class: `signal ${key}${status[key] ? ' on' : ''}`, 'data-signal': key, 'aria-label': `${label} ${status[key] ? 'high' : 'low'}` }, label)),
    ),
    h('p', { class: 'counters' }, `${c.triggers} parts · ${c.ok} Ok · ${c.ng} Ng · ${c.deadlineMisses} deadline misses · ${c.refused} refused`),
    h(
      'p',
      { class: 'last-part' },
      'last part: ',
      lastPart ? h('a', { href: partHref(lastPart.id) }, `${lastPart.partId} · ${resultText(lastPart)}${lastPart.late ? ' · late' : ''} · ${fmtTime(lastPart.triggeredAt)}`) : 'none yet',
    ),
    station.recipes.length > 0
      ? h(
          'div',
          { class: 'recipe' },
          h('p', null, 'recipe in force: ', h('b', { class: 'recipe-now' }, recipeText(station, status.recipe))),
          MAY_SELECT.includes(user.role) ? h(RecipeControl, { station, onChanged }) : null,
          station.recipeChanges.length
            ? h(
                'ol',
                { class: 'recipe-changes' },
                station.recipeChanges.map((r) => h('li', { key: r.id }, `${fmtTime(r.changedAt)} ${recipeText(station, r.fromIndex)} → ${recipeText(station, r.toIndex)} by ${r.source}`)),
              )
            : null,
        )
      : null,
  );
}

/** The stations of the line; nothing for a line without any. */
export function StationsPanel({ user }: { user: User }) {
  const [stations, setStations] = useState<StationInfo[]>();
  const [error, setError] = useState('');
  useEffect(() => {
    let active = true;
    const load = () =>
      api<{ stations: StationInfo[] }>('/api/stations').then(
        (r) => active && (setStations(r.stations), setError('')),
        (err: Error) => active && setError(err.message),
      );
    void load();
    const offs = [onServerEvent('open', () => void load())];
    const poll = setInterval(() => void load(), POLL_MS);
    return () => {
      active = false;
      offs.forEach((off) => off());
      clearInterval(poll);
    };
  }, []);
  if (!stations || (stations.length === 0 && !error)) return null;
  const changed = (s: StationInfo) => setStations((list) => list?.map((x) => (x.id === s.id ? s : x)));
  return h(
    'section',
    { class: 'stations', id: 'stations' },
    h('div', { class: 'board-head' }, h('h1', null, 'Stations'), h(PartSearch, null), error ? h('span', { class: 'error' }, error) : null),
    h('div', { class: 'board-grid' }, stations.map((s) => h(StationTile, { key: s.id, station: s, user, onChanged: changed }))),
  );
}
