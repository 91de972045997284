/// <reference lib="dom" />
// Zoom and pan of the detail image (and the reference beside it): drag or wheel to pan,
// Ctrl+wheel or z to zoom about the centre of what is shown; every box shows the same part.
import { h, type ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export const ZOOMS = [1, 2, 4];

/** Where the view is, as fractions of the image: shared by the boxes shown side by side. */
export interface View {
  cx: number;
  cy: number;
}

export function ZoomBox({ zoom, view, onZoom, onPan, children, name }: { zoom: number; view: View; onZoom: (delta: number) => void; onPan: (v: View) => void; children?: ComponentChildren; name: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x: number; y: number; left: number; top: number } | undefined>(undefined);
  // Show the shared view: after a zoom, after the image loaded, or when the other box moved.
  const place = () => {
    const el = ref.current;
    if (!el) return;
    el.scrollLeft = view.cx * el.scrollWidth - el.clientWidth / 2;
    el.scrollTop = view.cy * el.scrollHeight - el.clientHeight / 2;
  };
  useEffect(place, [zoom, view.cx, view.cy]);
  // A box that changes size (the reference shown beside it, a rotated tablet) keeps showing the same part.
  useEffect(() => {
    const observer = new ResizeObserver(() => place());
    observer.observe(ref.current!);
    return () => observer.disconnect();
  });
  // Only a pan the user made (drag, wheel, touch) moves the shared view: scrolls the browser makes
  // while the boxes change zoom or size must not.
  const touched = useRef(0);
  const touch = () => (touched.current = Date.now());
  const report = () => {
    if (Date.now() - touched.current > 500) return;
    const el = ref.current!;
    const next = { cx: (el.scrollLeft + el.clientWidth / 2) / el.scrollWidth, cy: (el.scrollTop + el.clientHeight / 2) / el.scrollHeight };
    // The scroll that place() made (or one too small to see) is no pan.
    if (Math.abs(next.cx - view.cx) < 0.002 && Math.abs(next.cy - view.cy) < 0.002) return;
    onPan(next);
  };
  return h(
    'div',
    {
      ref,
      class: `image-box zoom-${ZOOMS[zoom]}`,
      'data-box': name,
      onLoadCapture: place,
      onScroll: report,
      onWheel: (e: WheelEvent) => {
        // Plain wheel pans (the box scrolls); Ctrl+wheel (and a trackpad pinch) zooms.
        touch();
        if (!e.ctrlKey) return;
        e.preventDefault();
        onZoom(e.deltaY < 0 ? 1 : -1);
      },
      onTouchMove: touch,
      onPointerDown: (e: PointerEvent) => {
        touch();
        if (e.button !== 0 || zoom === 0) return;
        const el = ref.current!;
        drag.current = { x: e.clientX, y: e.clientY, left: el.scrollLeft, top: el.scrollTop };
        el.setPointerCapture(e.pointerId);
        el.classList.add('dragging');
      },
      onPointerMove: (e: PointerEvent) => {
        const d = drag.current;
        if (!d) return;
        touch();
        const el = ref.current!;
        el.scrollLeft = d.left - (e.clientX - d.x);
        el.scrollTop = d.top - (e.clientY - d.y);
      },
      onPointerUp: () => {
        drag.current = undefined;
        ref.current?.classList.remove('dragging');
      },
      onPointerCancel: () => {
        drag.current = undefined;
        ref.current?.classList.remove('dragging');
      },
    },
    children,
  );
}
