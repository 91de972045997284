/// <reference lib="dom" />
// Thresholds per camera with a preview of what would change, and the audit log.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { fmtTime } from './cards.js';
import type { AuditEntry, Thresholds, User } from './types.js';

interface Preview {
  considered: number;
  changed: number;
  transitions: Record<string, number>;
}

function CameraThresholds({ cameraId, current, onApplied }: { cameraId: string; current: Thresholds; onApplied: () => void }) {
  const [defect, setDefect] = useState(String(current.defect));
  const [band, setBand] = useState(String(current.uncertainBand));
  const [preview, setPreview] = useState<Preview>();
  const [message, setMessage] = useState('');
  const proposed = { defect: Number(defect), uncertainBand: Number(band) };
  const valid = Number.isFinite(proposed.defect) && Number.isFinite(proposed.uncertainBand) && proposed.uncertainBand >= 0 && defect !== '' && band !== '';
  useEffect(() => {
    if (!valid) return setPreview(undefined);
    const timer = setTimeout(
      () =>
        void api<Preview>(`/api/settings/thresholds/${cameraId}/preview`, { method: 'POST', body: { thresholds: proposed } }).then(setPreview, (e: Error) =>
          setMessage(e.message),
        ),
      250,
    );
    return () => clearTimeout(timer);
  }, [defect, band]);
  const apply = async () => {
    try {
      await api(`/api/settings/thresholds/${cameraId}`, { method: 'PUT', body: proposed });
      setMessage('Applied from the next frame; recorded in the audit log.');
      onApplied();
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  const changedText = preview
    ? `${preview.changed} of the last ${preview.considered} inspections would change verdict` +
      (preview.changed ? ` (${Object.entries(preview.transitions).map(([k, v]) => `${k.replace('->', ' → ')} ${v}`).join(', ')})` : '')
    : '';
  return h(
    'div',
    { class: 'threshold-row', 'data-camera': cameraId },
    h('h3', null, cameraId),
    h('label', null, 'defect at or above ', h('input', { name: 'defect', type: 'number', step: 'any', value: defect, onInput: (e: Event) => setDefect((e.target as HTMLInputElement).value) })),
    h('label', null, 'uncertain band ', h('input', { name: 'uncertainBand', type: 'number', step: 'any', min: 0, value: band, onInput: (e: Event) => setBand((e.target as HTMLInputElement).value) })),
    h('span', { class: 'hint' }, `now: defect ≥ ${current.defect}, uncertain ≥ ${(current.defect - current.uncertainBand).toFixed(4)}`),
    h('p', { class: 'preview' }, changedText),
    h('button', { class: 'apply', disabled: !valid || (proposed.defect === current.defect && proposed.uncertainBand === current.uncertainBand), onClick: () => void apply() }, 'Apply'),
    message ? h('p', { class: 'status', role: 'status' }, message) : null,
  );
}

/** "defect 0.95 → 1.1" for before/after pairs, else compact JSON. */
function describe(detail: unknown): string {
  if (!detail || typeof detail !== 'object') return '';
  const d = detail as { before?: Record<string, unknown>; after?: Record<string, unknown> };
  if (d.before && d.after)
    return Object.keys(d.after)
      .map((k) => `${k} ${String(d.before![k])} → ${String(d.after![k])}`)
      .join(', ');
  return JSON.stringify(detail);
}

export function SettingsPage({ user }: { user: User }) {
  const [cameras, setCameras] = useState<{ cameraId: string; thresholds: Thresholds }[]>([]);
  const [model, setModel] = useState<{ name: string; version: string }>();
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [error, setError] = useState('');
  const load = () => {
    void api<{ model: { name: string; version: string }; cameras: { cameraId: string; thresholds: Thresholds }[] }>('/api/settings/thresholds').then(
      (r) => {
        setCameras(r.cameras);
        setModel(r.model);
      },
      (e: Error) => setError(e.message),
    );
    void api<{ entries: AuditEntry[] }>('/api/audit?limit=50').then((r) => setAudit(r.entries), (e: Error) => setError(e.message));
  };
  useEffect(load, []);
  return h(
    'section',
    { class: 'settings' },
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('h2', null, 'Thresholds'),
    model ? h('p', { class: 'hint' }, `Model ${model.name} ${model.version}. Previews count the newest inspections this model scored. Changes apply from the next frame, are kept across restarts and are audited (you are ${user.name}).`) : null,
    cameras.map((c) => h(CameraThresholds, { key: `${c.cameraId}:${c.thresholds.defect}:${c.thresholds.uncertainBand}`, cameraId: c.cameraId, current: c.thresholds, onApplied: load })),
    h('h2', null, 'Audit log'),
    h(
      'table',
      { class: 'audit', id: 'audit' },
      h('thead', null, h('tr', null, h('th', null, 'when'), h('th', null, 'who'), h('th', null, 'what'), h('th', null, 'target'), h('th', null, 'detail'))),
      h(
        'tbody',
        null,
        audit.map((a) => h('tr', { key: a.id }, h('td', null, fmtTime(a.at)), h('td', null, a.user), h('td', null, a.action), h('td', null, a.target ?? ''), h('td', { class: 'detail' }, describe(a.detail)))),
      ),
    ),
  );
}
