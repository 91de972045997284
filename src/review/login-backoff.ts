// Per-account back-off for failed sign-ins, beside the per-address rate limit: after
// FREE_FAILURES failures in a row an account waits 1 s, doubling per failure up to
// review.auth.loginBackoffMaxSeconds, whatever address tries; success resets it. Guessing one
// account's password from many addresses is slowed, and an attacker cannot lock its user out
// for longer than the cap (attempts refused while waiting do not lengthen the wait).
import { backoffDelay } from '../common/backoff.js';

/** Accounts remembered at once (unknown names count too, so they look like real ones). */
const MAX_ACCOUNTS = 10_000;
const FIRST_DELAY_MS = 1000;
/** Failures in a row an account takes before it has to wait (typing mistakes). */
export const FREE_FAILURES = 5;

export interface LoginBackoff {
  /** Milliseconds until `name` may try again; 0 when it may now. */
  waitMs(name: string): number;
  failed(name: string): void;
  succeeded(name: string): void;
}

export function createLoginBackoff(options: { maxMs: number; now?: () => number }): LoginBackoff {
  const now = options.now ?? Date.now;
  const policy = { initialMs: Math.min(FIRST_DELAY_MS, options.maxMs), maxMs: options.maxMs };
  const accounts = new Map<string, { failures: number; until: number }>();
  return {
    waitMs(name) {
      const entry = accounts.get(name);
      return entry ? Math.max(0, entry.until - now()) : 0;
    },
    failed(name) {
      const last = accounts.get(name);
      // Quiet for a whole cap after the last wait ended: a new mistake starts from 1 s again.
      const failures = last && now() < last.until + policy.maxMs ? last.failures + 1 : 1;
      accounts.delete(name); // re-inserted last: the map's order is least recently failed first
      const delay = failures > FREE_FAILURES ? backoffDelay(failures - FREE_FAILURES, policy, () => 0.5) : 0;
      accounts.set(name, { failures, until: now() + delay });
      if (accounts.size > MAX_ACCOUNTS) accounts.delete(accounts.keys().next().value!);
    },
    succeeded(name) {
      accounts.delete(name);
    },
  };
}
