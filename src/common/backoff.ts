// Reconnect pacing: exponential backoff with jitter, so a fleet of cameras that lost the
// same switch does not hammer it in lockstep.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Relative jitter applied to every delay (±20%). */
export const BACKOFF_JITTER = 0.2;

/**
 * Delay before the next attempt after `failures` consecutive failures (1 = first failure).
 * The base doubles from `initialMs` up to `maxMs`; jitter spreads it by ±20% and the result
 * never exceeds `maxMs`, which the config documents as the cap.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, failures - 1);
  // 2 ** 40 is already far beyond any sane cap; clamping the exponent keeps the math finite.
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(exponent, 40));
  const jitter = 1 + (random() * 2 - 1) * BACKOFF_JITTER;
  return Math.max(0, Math.round(Math.min(policy.maxMs, base * jitter)));
}
