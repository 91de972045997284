/// <reference lib="dom" />
// One inspection: the full-resolution image (overlay toggle, zoom), everything the model said, the verdict keys.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { fmtTime, Thumb } from './cards.js';
import { markReviewed, nextAfter, previousOf, type QueueSession } from './session.js';
import type { Inspection } from './types.js';
import { askLabel, giveVerdict, isTyping, KEYS, reviewText, undoLast, type Decision } from './verdicts.js';

type Detail = Inspection & { history: { id: number; decision: string; label: string | null; user: string; at: number; note: string | null }[] };

const ZOOMS = [1, 2, 4];

export function DetailPage({ id, session }: { id: string; session: QueueSession }) {
  const [item, setItem] = useState<Detail>();
  const [neighbours, setNeighbours] = useState<{ before: Inspection[]; after: Inspection[] }>({ before: [], after: [] });
  const [overlay, setOverlay] = useState(true);
  const [zoom, setZoom] = useState(0);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');

  const reload = () =>
    api<Detail>(`/api/inspections/${id}`).then(
      (d) => {
        setItem(d);
        setError('');
      },
      (err: Error) => setError(err.message),
    );
  useEffect(() => {
    void reload();
    void api<{ before: Inspection[]; after: Inspection[] }>(`/api/inspections/${id}/neighbours?count=4`).then(setNeighbours, () => undefined);
  }, [id]);

  const decide = async (decision: Decision) => {
    let label: string | undefined;
    if (decision === 'relabeled') {
      label = askLabel(item);
      if (!label) return;
    }
    try {
      const applied = await giveVerdict([id], decision, label);
      const state = applied.get(id);
      markReviewed(session, id, state);
      setStatus(`${reviewText(state)} — u to undo`);
      const next = await nextAfter(session, id);
      if (next) {
        session.current = next;
        location.hash = `#/inspection/${next}`;
      } else await reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e) || e.altKey || e.metaKey) return;
      if (e.ctrlKey && e.key === 'z') {
        e.preventDefault();
        void undoLast().then((ids) => ids && void reload());
        return;
      }
      if (e.ctrlKey) return;
      const verdict = KEYS.find((k) => k.key === e.key);
      if (verdict) {
        e.preventDefault();
        void decide(verdict.decision);
      } else if (e.key === 'o') setOverlay((v) => !v);
      else if (e.key === 'z') setZoom((z) => (z + 1) % ZOOMS.length);
      else if (e.key === 'u') void undoLast().then((ids) => ids && void reload());
      else if (e.key === 'Escape' || e.key === 'q') location.hash = '#/queue';
      else if (e.key === 'j' || e.key === 'ArrowRight') void nextAfter(session, id).then((n) => n && (location.hash = `#/inspection/${n}`));
      else if (e.key === 'k' || e.key === 'ArrowLeft') {
        const previous = previousOf(session, id);
        if (previous) location.hash = `#/inspection/${previous}`;
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  });

  if (error) return h('p', { class: 'error', role: 'alert' }, error);
  if (!item) return h('p', { class: 'loading' }, 'Loading…');
  const src = overlay && item.overlayUrl ? item.overlayUrl : item.imageUrl;
  const t = item.thresholds;
  const timings = Object.entries(item.timings);
  const row = (k: string, v: unknown) => h('tr', null, h('th', null, k), h('td', null, v as string));
  return h(
    'section',
    { class: 'detail' },
    h(
      'div',
      { class: 'viewer' },
      h(
        'div',
        { class: 'viewer-tools' },
        h('a', { href: '#/queue' }, '← queue (Esc)'),
        h('label', null, h('input', { type: 'checkbox', name: 'overlay', checked: overlay, disabled: !item.overlayUrl, onChange: () => setOverlay(!overlay) }), ' overlay (o)'),
        h('button', { onClick: () => setZoom((z) => (z + 1) % ZOOMS.length) }, `zoom ${ZOOMS[zoom]}× (z)`),
      ),
      h(
        'div',
        { class: `image-box zoom-${ZOOMS[zoom]}`, onWheel: (e: WheelEvent) => (e.preventDefault(), setZoom((z) => Math.max(0, Math.min(ZOOMS.length - 1, z + (e.deltaY < 0 ? 1 : -1))))) },
        src ? h('img', { id: 'detail-image', src, alt: `${item.verdict} frame` }) : h('div', { class: 'noimg' }, 'no image stored (an ok frame outside the sample)'),
      ),
      h(
        'div',
        { class: 'neighbours' },
        h('span', null, 'same camera:'),
        [...neighbours.before].reverse().map((n) => h('a', { key: n.id, href: `#/inspection/${n.id}`, class: `thumb ${n.verdict}`, title: `${n.verdict} ${n.score.toFixed(3)}` }, h(Thumb, { item: n }))),
        h('span', { class: `thumb self ${item.verdict}` }, h(Thumb, { item })),
        neighbours.after.map((n) => h('a', { key: n.id, href: `#/inspection/${n.id}`, class: `thumb ${n.verdict}`, title: `${n.verdict} ${n.score.toFixed(3)}` }, h(Thumb, { item: n }))),
      ),
    ),
    h(
      'aside',
      { class: 'facts' },
      h('h2', null, h('span', { class: `verdict ${item.verdict}` }, item.verdict), ' ', h('span', { class: 'score', id: 'detail-score' }, item.score.toFixed(4))),
      h('p', { class: `review ${item.review?.decision ?? 'none'}`, id: 'detail-review' }, `Review: ${reviewText(item.review)}${item.review ? ` by ${item.review.user}` : ''}`),
      h(
        'div',
        { class: 'verdict-buttons' },
        KEYS.map((k) => h('button', { key: k.key, class: `verdict-btn ${k.decision}`, onClick: () => void decide(k.decision) }, h('kbd', null, k.key), ' ', k.label)),
        h('button', { onClick: () => void undoLast().then((ids) => ids && void reload()) }, h('kbd', null, 'u'), ' Undo'),
      ),
      h('p', { class: 'status', role: 'status' }, status),
      h(
        'table',
        null,
        h(
          'tbody',
          null,
          row('camera', `${item.cameraId} #${item.frameSeq}`),
          row('captured', `${new Date(item.capturedAt).toLocaleString()}`),
          row('model', `${item.model.name} ${item.model.version} (${item.model.task})`),
          row('thresholds', `defect ≥ ${t.defect} · uncertain ≥ ${(t.defect - t.uncertainBand).toFixed(4)}`),
          item.sourceFile ? row('source', item.sourceFile.split('/').pop()) : null,
          ...timings.map(([k, v]) => row(k.replace(/Ms$/, ''), `${v.toFixed(1)} ms`)),
        ),
      ),
      item.classes?.length
        ? h('table', { class: 'classes' }, h('tbody', null, item.classes.map((c) => row(c.label, c.score.toFixed(3)))))
        : null,
      item.boxes?.length
        ? h('table', { class: 'boxes' }, h('tbody', null, item.boxes.map((b) => row(b.label, `${b.score.toFixed(2)} @ ${[b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v)).join(',')}`))))
        : null,
      h('h3', null, 'History'),
      item.history.length === 0
        ? h('p', { class: 'hint' }, 'No verdict yet.')
        : h('ol', { class: 'history' }, item.history.map((r) => h('li', { key: r.id }, `${fmtTime(r.at)} ${r.user}: ${r.decision}${r.label ? ` (${r.label})` : ''}`))),
      h('p', { class: 'keys' }, 'd defect · f false positive · r relabel · e needs expert · u undo · o overlay · z zoom · j/k next/previous · Esc queue'),
    ),
  );
}
