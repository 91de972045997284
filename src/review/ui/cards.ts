/// <reference lib="dom" />
// One queue card, its thumbnail and time, and the selection toggle: shared by the queue and the other pages.
import { h } from 'preact';
import type { Inspection } from './types.js';
import { reviewText } from './verdicts.js';
import { navigate } from './nav.js';

export function Thumb({ item }: { item: Inspection }) {
  const src = item.overlayUrl ?? item.imageUrl;
  return src ? h('img', { src, alt: `${item.verdict} frame`, loading: 'lazy', draggable: false }) : h('div', { class: 'noimg' }, 'no image stored');
}

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + (Date.now() - ms > 86_400_000 ? ` ${d.toLocaleDateString()}` : '');
}

/** The selection with `id` added, or taken out if it was in. */
export function toggled(selection: ReadonlySet<string>, id: string): Set<string> {
  const next = new Set(selection);
  if (!next.delete(id)) next.add(id);
  return next;
}

export interface CardProps {
  item: Inspection;
  isCurrent: boolean;
  isSelected: boolean;
  /** Click: the reviewer's place moves here. */
  onPick: (id: string) => void;
  /** Shift/Ctrl-click or the checkbox: in or out of the selection. */
  onToggle: (id: string) => void;
}

export function QueueCard({ item, isCurrent, isSelected, onPick, onToggle }: CardProps) {
  return h(
    'figure',
    {
      class: `card inspection ${item.verdict}${isCurrent ? ' current' : ''}${isSelected ? ' selected' : ''}${item.review ? ' reviewed' : ''}`,
      'data-id': item.id,
      onClick: (e: MouseEvent) => (e.shiftKey || e.ctrlKey ? onToggle(item.id) : onPick(item.id)),
      onDblClick: () => navigate(`#/inspection/${item.id}`),
    },
    h('input', {
      type: 'checkbox',
      class: 'pick',
      checked: isSelected,
      'aria-label': 'select',
      onClick: (e: MouseEvent) => e.stopPropagation(),
      onChange: () => onToggle(item.id),
    }),
    h(Thumb, { item }),
    h(
      'figcaption',
      null,
      h('span', { class: `verdict ${item.verdict}` }, item.verdict),
      h('span', { class: 'score' }, item.score.toFixed(3)),
      h('br', null),
      h('span', { class: 'meta' }, `${item.cameraId} #${item.frameSeq} · ${fmtTime(item.capturedAt)}`),
      h('br', null),
      h('span', { class: `review ${item.review ? item.review.decision : 'none'}` }, reviewText(item.review)),
    ),
  );
}
