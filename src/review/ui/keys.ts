/// <reference lib="dom" />
// Page keys: one listener per page, registered when the page is in the DOM, calling the latest render's handler.
import { useLayoutEffect, useRef } from 'preact/hooks';

/**
 * Registers once, in a layout effect: a key pressed right after a page appears reaches it (a plain
 * effect waits for the next paint), and never an older render's closure.
 */
export function useKeys(handler: (e: KeyboardEvent) => void): void {
  const latest = useRef(handler);
  latest.current = handler;
  useLayoutEffect(() => {
    const listener = (e: KeyboardEvent) => latest.current(e);
    addEventListener('keydown', listener);
    return () => removeEventListener('keydown', listener);
  }, []);
}
