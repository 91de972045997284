/// <reference lib="dom" />
// The line as it runs: each camera's newest frame with the model's overlay, state, fps and drops,
// and a button to keep the camera's next frame as a sample (stored and uploaded whatever its verdict).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, onServerEvent } from './api.js';
import type { CameraStatus, LiveFrameInfo } from './types.js';

type LiveCamera = CameraStatus & { latest?: LiveFrameInfo };

function CaptureButton({ cameraId }: { cameraId: string }) {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ id?: string; text: string }>();
  const capture = async () => {
    setBusy(true);
    setResult(undefined);
    try {
      const i = await api<{ id: string; verdict: string; score: number }>(`/api/live/${encodeURIComponent(cameraId)}/sample`, { method: 'POST' });
      setResult({ id: i.id, text: `sample kept (${i.verdict} ${i.score.toFixed(3)})` });
    } catch (err) {
      setResult({ text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return h(
    'div',
    { class: 'capture' },
    h('button', { class: 'capture-sample', disabled: busy, onClick: () => void capture(), title: 'keep the next frame of this camera and upload it for retraining' }, busy ? 'Capturing…' : 'Capture sample'),
    result ? (result.id ? h('a', { class: 'captured', href: `#/inspection/${result.id}` }, result.text) : h('span', { class: 'error' }, result.text)) : null,
  );
}

export function LivePage() {
  const [cameras, setCameras] = useState<LiveCamera[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const poll = () =>
      api<{ cameras: LiveCamera[] }>('/api/live').then(
        (r) => {
          setCameras((prev) => r.cameras.map((c) => ({ ...c, latest: newest(c.latest, prev.find((p) => p.cameraId === c.cameraId)?.latest) })));
          setError('');
        },
        (err: Error) => setError(err.message),
      );
    void poll();
    const timer = setInterval(() => void poll(), 2000);
    const offFrame = onServerEvent<LiveFrameInfo>('frame', (f) => setCameras((list) => list.map((c) => (c.cameraId === f.cameraId ? { ...c, latest: f } : c))));
    const offStatus = onServerEvent<CameraStatus>('cameraStatus', (s) => setCameras((list) => list.map((c) => (c.cameraId === s.cameraId ? { ...c, ...s } : c))));
    return () => {
      clearInterval(timer);
      offFrame();
      offStatus();
    };
  }, []);
  return h(
    'section',
    { class: 'live' },
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    cameras.length === 0 ? h('p', { class: 'empty' }, 'No cameras.') : null,
    h(
      'div',
      { class: 'live-grid' },
      cameras.map((c) =>
        h(
          'figure',
          { key: c.cameraId, class: `camera ${c.latest?.verdict ?? ''}`, 'data-camera': c.cameraId },
          c.latest
            ? h('img', { src: `/api/live/${encodeURIComponent(c.cameraId)}/frame.jpg?seq=${c.latest.seq}`, alt: `latest frame of ${c.cameraId}` })
            : h('div', { class: 'noimg' }, 'waiting for the first frame'),
          h(
            'figcaption',
            null,
            h('strong', null, c.cameraId),
            ' ',
            h('span', { class: `state ${c.state}` }, c.state),
            c.latest ? h('span', { class: `verdict ${c.latest.verdict}` }, ` ${c.latest.verdict} ${c.latest.score.toFixed(3)}`) : null,
            h('br', null),
            h('span', { class: 'meta' }, `${(c.latest?.fps ?? 0).toFixed(1)} inspected/s · ${c.framesIn} frames · ${c.framesDropped} dropped · ${c.reconnects} reconnects`),
            c.lastError && c.state !== 'online' ? h('div', { class: 'error' }, c.lastError) : null,
            c.latest ? h('a', { href: `#/inspection/${c.latest.inspectionId}` }, 'open this frame') : null,
            h(CaptureButton, { cameraId: c.cameraId }),
          ),
        ),
      ),
    ),
  );
}

function newest(a?: LiveFrameInfo, b?: LiveFrameInfo): LiveFrameInfo | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.seq >= b.seq ? a : b;
}
