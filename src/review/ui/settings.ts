/// <reference lib="dom" />
// Thresholds per camera: bounded by the model's score range (checked by the server, shown next
// to the field), a preview of what would change against the value in force, confirmation of big
// changes, reset to the model's calibrated value, where the value came from; and the audit log.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, formErrors, onServerEvent } from './api.js';
import { fmtTime } from './cards.js';
import type { AuditEntry, Thresholds, User } from './types.js';

interface Preview {
  considered: number;
  changed: number;
  transitions: Record<string, number>;
}

interface Source {
  kind: 'model' | 'config' | 'ui' | 'twin' | 'method';
  by?: string;
  at?: number;
  twin?: boolean;
}

interface CameraRow {
  cameraId: string;
  thresholds: Thresholds;
  source: Source;
}

interface ThresholdSettings {
  model: { name: string; version: string; task: string };
  calibrated: Thresholds;
  scoreRange: { min: number; max?: number };
  confirmChange: number;
  cameras: CameraRow[];
}

const FIELDS = ['defect', 'uncertainBand'];

export function sourceText(s: Source): string {
  const when = s.at ? ` at ${fmtTime(s.at)}` : '';
  if (s.kind === 'model') return `the model's calibrated value${when}`;
  if (s.kind === 'config') return 'the config file';
  if (s.kind === 'ui') return `set here by ${s.by ?? '?'}${when}`;
  if (s.kind === 'twin') return `the module twin${when}`;
  return `a direct method${when}`;
}

function CameraThresholds({ row, settings, onApplied }: { row: CameraRow; settings: ThresholdSettings; onApplied: () => void }) {
  const { cameraId, thresholds: current } = row;
  const [defect, setDefect] = useState(String(current.defect));
  const [band, setBand] = useState(String(current.uncertainBand));
  const [preview, setPreview] = useState<Preview>();
  const [fields, setFields] = useState<Record<string, string>>({});
  const [message, setMessage] = useState('');
  const [confirming, setConfirming] = useState('');
  // A value applied (here, by another user, by the twin) becomes what the inputs start from.
  useEffect(() => {
    setDefect(String(current.defect));
    setBand(String(current.uncertainBand));
  }, [current.defect, current.uncertainBand]);
  const proposed = { defect: Number(defect), uncertainBand: Number(band) };
  const numbers = defect !== '' && band !== '' && Number.isFinite(proposed.defect) && Number.isFinite(proposed.uncertainBand);
  const unchanged = proposed.defect === current.defect && proposed.uncertainBand === current.uncertainBand;
  useEffect(() => {
    setConfirming('');
    if (!numbers) {
      setPreview(undefined);
      return setFields({ ...(defect === '' || !Number.isFinite(proposed.defect) ? { defect: 'Enter a number.' } : {}), ...(band === '' || !Number.isFinite(proposed.uncertainBand) ? { uncertainBand: 'Enter a number.' } : {}) });
    }
    const timer = setTimeout(
      () =>
        void api<Preview>(`/api/settings/thresholds/${cameraId}/preview`, { method: 'POST', body: { thresholds: proposed } }).then(
          (p) => {
            setPreview(p);
            setFields({});
          },
          (e: unknown) => {
            setPreview(undefined);
            const { fields: f, message: m } = formErrors(e, FIELDS);
            setFields(f);
            if (m) setMessage(m);
          },
        ),
      250,
    );
    return () => clearTimeout(timer);
  }, [defect, band, current.defect, current.uncertainBand]);
  const send = async (confirm: boolean) => {
    try {
      await api(`/api/settings/thresholds/${cameraId}`, { method: 'PUT', body: { ...proposed, ...(confirm ? { confirm: true } : {}) } });
      setConfirming('');
      setMessage(`Applied at ${fmtTime(Date.now())}: defect ≥ ${proposed.defect}, uncertain ≥ ${round(proposed.defect - proposed.uncertainBand)}. Recorded in the audit log.`);
      onApplied();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'CONFIRM') return setConfirming(confirmText(current, proposed));
      const { fields: f, message: m } = formErrors(err, FIELDS);
      setFields(f);
      setMessage(m);
    }
  };
  const reset = async () => {
    try {
      await api(`/api/settings/thresholds/${cameraId}/reset`, { method: 'POST' });
      setMessage(`Reset to the model's calibrated value (defect ≥ ${settings.calibrated.defect}, band ${settings.calibrated.uncertainBand}).`);
      onApplied();
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  const changedText = preview
    ? `${preview.changed} of the last ${preview.considered} inspections would change verdict` +
      (preview.changed ? ` (${Object.entries(preview.transitions).map(([k, v]) => `${k.replace('->', ' → ')} ${v}`).join(', ')})` : '')
    : '';
  const isCalibrated = current.defect === settings.calibrated.defect && current.uncertainBand === settings.calibrated.uncertainBand;
  const range = settings.scoreRange;
  const field = (name: 'defect' | 'uncertainBand', label: string, value: string, set: (v: string) => void) =>
    h(
      'label',
      { class: `field${fields[name] ? ' invalid' : ''}` },
      label,
      h('input', {
        name,
        type: 'number',
        step: 'any',
        min: name === 'defect' ? range.min : 0,
        max: name === 'defect' ? range.max : undefined,
        value,
        'aria-invalid': fields[name] ? 'true' : undefined,
        onInput: (e: Event) => set((e.target as HTMLInputElement).value),
      }),
      fields[name] ? h('span', { class: 'field-error', 'data-field': name }, fields[name]) : null,
    );
  return h(
    'div',
    { class: 'threshold-row', 'data-camera': cameraId },
    h('h3', null, cameraId),
    field('defect', 'defect at or above ', defect, setDefect),
    field('uncertainBand', 'uncertain band ', band, setBand),
    h(
      'span',
      { class: 'hint now' },
      `now: defect ≥ ${current.defect}, uncertain ≥ ${round(current.defect - current.uncertainBand)} · from `,
      h('span', { class: `source ${row.source.kind}` }, sourceText(row.source)),
    ),
    row.source.twin
      ? h('p', { class: 'hint twin-note' }, 'The module twin sets this camera\u2019s thresholds: it sets them again whenever the device reconnects or restarts, replacing a value set here. Change them in the twin to keep them.')
      : null,
    h('p', { class: 'preview' }, unchanged ? 'These are the values in force.' : changedText),
    h('button', { class: 'apply', disabled: !numbers || unchanged || Object.keys(fields).length > 0, onClick: () => void send(false) }, 'Apply'),
    h('button', { class: 'reset', disabled: isCalibrated, title: `defect ${settings.calibrated.defect}, band ${settings.calibrated.uncertainBand}`, onClick: () => void reset() }, "Reset to the model's calibrated value"),
    confirming
      ? h(
          'div',
          { class: 'confirm', role: 'alertdialog' },
          h('p', null, confirming),
          h('button', { class: 'confirm-apply', onClick: () => void send(true) }, 'Apply anyway'),
          h('button', { class: 'link', onClick: () => setConfirming('') }, 'Cancel'),
        )
      : null,
    message ? h('p', { class: 'status', role: 'status' }, message) : null,
  );
}

const round = (x: number) => Number(x.toFixed(4));

function confirmText(before: Thresholds, after: Thresholds): string {
  const pct = (a: number, b: number) => `${a} → ${b} (${b >= a ? '+' : ''}${Math.round(((b - a) / Math.abs(a || 1e-9)) * 100)} %)`;
  return `A big change: defect threshold ${pct(before.defect, after.defect)}, uncertain from ${pct(round(before.defect - before.uncertainBand), round(after.defect - after.uncertainBand))}. Every camera frame is judged by it from the next frame on. Apply it?`;
}

/** "defect 0.95 → 1.1" for before/after pairs, else compact JSON. */
function describe(detail: unknown): string {
  if (!detail || typeof detail !== 'object') return '';
  const d = detail as { before?: Record<string, unknown>; after?: Record<string, unknown> };
  if (d.before && d.after)
    return Object.keys(d.after)
      .map((k) => `${k} ${String(d.before![k])} → ${String(d.after![k])}`)
      .join(', ');
  if (d.after) return Object.entries(d.after).map(([k, v]) => `${k} → ${String(v)}`).join(', ');
  return JSON.stringify(detail);
}

export function SettingsPage({ user }: { user: User }) {
  const [settings, setSettings] = useState<ThresholdSettings>();
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [error, setError] = useState('');
  const load = () => {
    void api<ThresholdSettings>('/api/settings/thresholds').then(setSettings, (e: Error) => setError(e.message));
    void api<{ entries: AuditEntry[] }>('/api/audit?limit=50').then((r) => setAudit(r.entries), (e: Error) => setError(e.message));
  };
  useEffect(() => {
    load();
    // A change from anywhere (another tab, the module twin, a direct method) shows at once.
    return onServerEvent('thresholds', () => load());
  }, []);
  return h(
    'section',
    { class: 'settings' },
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('h2', null, 'Thresholds'),
    settings
      ? h(
          'p',
          { class: 'hint' },
          `Model ${settings.model.name} ${settings.model.version} (${settings.model.task}: scores ${settings.scoreRange.min}${settings.scoreRange.max !== undefined ? `–${settings.scoreRange.max}` : ' and up'}; calibrated defect ≥ ${settings.calibrated.defect}, band ${settings.calibrated.uncertainBand}). ` +
            `Previews count the newest inspections this model scored, against the values in force. Changes apply from the next frame, are kept across restarts and are audited (you are ${user.name}); ` +
            `a change of more than ${Math.round(settings.confirmChange * 100)} % asks for confirmation.`,
        )
      : null,
    settings?.cameras.map((c) => h(CameraThresholds, { key: c.cameraId, row: c, settings, onApplied: load })),
    h('h2', null, 'Audit log'),
    h(
      'div',
      { class: 'table-scroll' },
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
    ),
  );
}
