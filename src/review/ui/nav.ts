/// <reference lib="dom" />
// The address (URL hash) the app routes by, and the one way pages move to another address.
import { useEffect, useState } from 'preact/hooks';

const DEFAULT = '#/queue';
const listeners = new Set<(hash: string) => void>();
const current = () => location.hash || DEFAULT;

/**
 * Goes to `hash` and renders its page before the next input event: setting location.hash alone
 * fires hashchange as a later task, so a key pressed right after a verdict or an Enter reached
 * the page being left.
 */
export function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
  for (const listener of listeners) listener(current());
}

/** The address as the app routes by it, following navigate() at once and the browser (links, back, typed) on hashchange. */
export function useHash(): string {
  const [hash, setHash] = useState(current);
  useEffect(() => {
    const on = () => setHash(current());
    listeners.add(setHash);
    addEventListener('hashchange', on);
    return () => {
      listeners.delete(setHash);
      removeEventListener('hashchange', on);
    };
  }, []);
  return hash;
}
