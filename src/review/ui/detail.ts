/// <reference lib="dom" />
// One inspection: the full-resolution image (overlay toggle, zoom and pan), the camera's
// reference image beside it, everything the model said, the verdict keys with a note.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { fmtTime } from './cards.js';
import { references, setReference, type Reference } from './references.js';
import { markReviewed, nextAfter, previousOf, type QueueSession } from './session.js';
import { partHref } from './parts.js';
import type { Inspection, Part, User } from './types.js';
import { askLabel, giveVerdict, isTyping, KEYS, reviewText, undoLast, type Decision } from './verdicts.js';
import { useKeys } from './keys.js';
import { ZoomBox, ZOOMS, type View } from './zoom.js';
import { navigate } from './nav.js';

type Detail = Inspection & { history: { id: number; decision: string; label: string | null; user: string; at: number; note: string | null }[] };

/** A neighbouring frame: its image, or a small tile with its verdict and score when none was stored. */
function NeighbourThumb({ item, self }: { item: Inspection; self?: boolean }) {
  const src = item.overlayUrl ?? item.imageUrl;
  const title = `${item.verdict} ${item.score.toFixed(3)}${src ? '' : ' (no image stored)'}`;
  const content = src ? h('img', { src, alt: title, loading: 'lazy', draggable: false }) : h('span', { class: 'tile' }, item.score.toFixed(2));
  if (self) return h('span', { class: `thumb self ${item.verdict}`, title }, content);
  return h('a', { href: `#/inspection/${item.id}`, class: `thumb ${item.verdict}`, title }, content);
}

export function DetailPage({ id, session, user }: { id: string; session: QueueSession; user: User }) {
  const [item, setItem] = useState<Detail>();
  const [neighbours, setNeighbours] = useState<{ before: Inspection[]; after: Inspection[] }>({ before: [], after: [] });
  const [overlay, setOverlay] = useState(true);
  const [zoom, setZoom] = useState(0);
  const [view, setView] = useState<View>({ cx: 0.5, cy: 0.5 });
  const [reference, setRef] = useState<Reference>();
  const [showReference, setShowReference] = useState(() => sessionStorage.getItem('visor.reference') === '1');
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const noteRef = useRef<HTMLTextAreaElement>(null);
  // The part this frame was a view of, on a line with stations.
  const [part, setPart] = useState<Part>();

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
    void api<{ parts: Part[] }>(`/api/parts?inspection=${id}`).then((r) => setPart(r.parts[0]), () => undefined);
  }, [id]);
  useEffect(() => {
    if (item) void references().then((r) => setRef(r[item.cameraId]));
  }, [item?.cameraId]);

  const toggleReference = () =>
    setShowReference((v) => {
      sessionStorage.setItem('visor.reference', v ? '0' : '1');
      return !v;
    });
  const zoomBy = (delta: number) => setZoom((z) => Math.max(0, Math.min(ZOOMS.length - 1, z + delta)));

  const decide = async (decision: Decision) => {
    let label: string | undefined;
    if (decision === 'relabeled') {
      label = await askLabel(item);
      if (!label) return;
    }
    try {
      // The note as shown, not as of the last render: a key pressed right after typing must carry all of it.
      const text = (noteRef.current?.value ?? note).trim();
      const applied = await giveVerdict([id], decision, label, text || undefined);
      const state = applied.get(id);
      markReviewed(session, id, state);
      setNote('');
      setStatus(`${reviewText(state)} — u to undo`);
      const next = await nextAfter(session, id);
      if (next) {
        session.current = next;
        navigate(`#/inspection/${next}`);
      } else await reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  // Undo goes back to the frame it undid (the verdict moved the reviewer on to the next one).
  const undo = async () => {
    const ids = await undoLast().catch((err: Error) => void setError(err.message));
    if (!ids) return;
    session.current = ids[0];
    markReviewed(session, ids[0]!, undefined);
    // By the address, not by this page's id: a verdict moves the address on at once, and a key
    // pressed before the next page has rendered still reaches this page's handler.
    const target = `#/inspection/${ids[0]}`;
    if (location.hash === target) await reload();
    else navigate(target);
  };

  useKeys((e: KeyboardEvent) => {
    if (isTyping(e) || e.altKey || e.metaKey) return;
    if (e.ctrlKey && e.key === 'z') {
      e.preventDefault();
      void undo();
      return;
    }
    if (e.ctrlKey) return;
    const verdict = KEYS.find((k) => k.key === e.key);
    if (verdict) {
      e.preventDefault();
      void decide(verdict.decision);
    } else if (e.key === 'o') setOverlay((v) => !v);
    else if (e.key === 'z') setZoom((z) => (z + 1) % ZOOMS.length);
    else if (e.key === 'g') toggleReference();
    else if (e.key === 'n') {
      e.preventDefault();
      noteRef.current?.focus();
    } else if (e.key === 'u') void undo();
    else if (e.key === 'Escape' || e.key === 'q') navigate('#/queue');
    else if (e.key === 'j' || e.key === 'ArrowRight') void nextAfter(session, id).then((n) => n && navigate(`#/inspection/${n}`));
    else if (e.key === 'k' || e.key === 'ArrowLeft') {
      const previous = previousOf(session, id);
      if (previous) navigate(`#/inspection/${previous}`);
    }
  });

  if (error) return h('p', { class: 'error', role: 'alert' }, error);
  if (!item) return h('p', { class: 'loading' }, 'Loading…');
  const src = overlay && item.overlayUrl ? item.overlayUrl : item.imageUrl;
  const t = item.thresholds;
  const timings = Object.entries(item.timings);
  const row = (k: string, v: unknown) => h('tr', null, h('th', null, k), h('td', null, v as string));
  const good = item.review ? item.review.label === 'good' : item.verdict === 'ok';
  const canSetReference = user.role !== 'operator' && good && !!item.imageUrl && reference?.id !== item.id;
  const side = showReference && reference && reference.id !== item.id;
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
        h('label', { title: reference ? `reference frame chosen by ${reference.setBy}` : 'no reference frame chosen for this camera yet' }, h('input', { type: 'checkbox', name: 'reference', checked: showReference, disabled: !reference, onChange: toggleReference }), ' reference (g)'),
        h('button', { class: 'zoom', onClick: () => setZoom((z) => (z + 1) % ZOOMS.length) }, `zoom ${ZOOMS[zoom]}× (z)`),
        h('span', { class: 'hint' }, zoom > 0 ? 'drag or wheel to pan, Ctrl+wheel to zoom' : 'Ctrl+wheel to zoom'),
      ),
      h(
        'div',
        { class: `viewer-boxes${side ? ' side-by-side' : ''}` },
        h(
          ZoomBox,
          { zoom, view, onZoom: zoomBy, onPan: setView, name: 'frame' },
          src ? h('img', { id: 'detail-image', src, alt: `${item.verdict} frame`, draggable: false }) : h('div', { class: 'noimg' }, 'no image stored (an ok frame outside the sample)'),
        ),
        side
          ? h(
              ZoomBox,
              { zoom, view, onZoom: zoomBy, onPan: setView, name: 'reference' },
              h('img', { id: 'reference-image', src: reference.imageUrl, alt: 'reference (good) frame of this camera', draggable: false }),
              h('span', { class: 'box-label' }, 'reference'),
            )
          : null,
      ),
      h(
        'div',
        { class: 'neighbours' },
        h('span', null, 'same camera:'),
        [...neighbours.before].reverse().map((n) => h(NeighbourThumb, { key: n.id, item: n })),
        h(NeighbourThumb, { item, self: true }),
        neighbours.after.map((n) => h(NeighbourThumb, { key: n.id, item: n })),
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
        h('button', { class: 'undo', onClick: () => void undo() }, h('kbd', null, 'u'), ' Undo'),
      ),
      h(
        'label',
        { class: 'note' },
        'Note with the verdict (n) ',
        h('textarea', {
          name: 'note',
          ref: noteRef,
          rows: 2,
          maxLength: 1000,
          placeholder: 'e.g. glare on the left edge',
          value: note,
          onInput: (e: Event) => setNote((e.target as HTMLTextAreaElement).value),
          onKeyDown: (e: KeyboardEvent) => {
            if (e.key === 'Escape') (e.target as HTMLTextAreaElement).blur();
          },
        }),
      ),
      h('p', { class: 'status', role: 'status' }, status),
      canSetReference
        ? h(
            'button',
            {
              class: 'set-reference',
              onClick: () =>
                void setReference(item.cameraId, item.id).then(
                  (r) => {
                    setRef(r);
                    setStatus('This frame is now the reference of its camera.');
                  },
                  (err: Error) => setError(err.message),
                ),
            },
            'Use as reference for this camera',
          )
        : null,
      h(
        'table',
        null,
        h(
          'tbody',
          null,
          row('camera', `${item.cameraId} #${item.frameSeq}`),
          part ? row('part', h('a', { href: partHref(part.id), id: 'detail-part' }, `${part.partId} · station ${part.stationId}`)) : null,
          row('captured', `${new Date(item.capturedAt).toLocaleString()}`),
          row('model', `${item.model.name} ${item.model.version} (${item.model.task})`),
          row('thresholds', `defect ≥ ${t.defect} · uncertain ≥ ${(t.defect - t.uncertainBand).toFixed(4)}`),
          item.sourceFile ? row('source', item.sourceFile.split('/').pop()) : null,
          ...timings.map(([k, v]) => row(k.replace(/Ms$/, ''), `${v.toFixed(1)} ms`)),
        ),
      ),
      item.classes?.length ? h('table', { class: 'classes' }, h('tbody', null, item.classes.map((c) => row(c.label, c.score.toFixed(3))))) : null,
      item.boxes?.length
        ? h('table', { class: 'boxes' }, h('tbody', null, item.boxes.map((b) => row(b.label, `${b.score.toFixed(2)} @ ${[b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v)).join(',')}`))))
        : null,
      h('h3', null, 'History'),
      item.history.length === 0
        ? h('p', { class: 'hint' }, 'No verdict yet.')
        : h(
            'ol',
            { class: 'history' },
            item.history.map((r) => h('li', { key: r.id }, `${fmtTime(r.at)} ${r.user}: ${r.decision}${r.label ? ` (${r.label})` : ''}`, r.note ? h('q', { class: 'note-text' }, r.note) : null)),
          ),
      h('p', { class: 'keys' }, 'd defect · f false positive · r relabel · e needs expert · n note · u undo · o overlay · g reference · z zoom · j/k next/previous · Esc queue'),
    ),
  );
}
