import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/capture/index.js';

const policy = { initialMs: 500, maxMs: 30_000 };

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    const noJitter = () => 0.5;
    const schedule = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, policy, noJitter));
    expect(schedule).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('spreads each delay by ±20% and never exceeds the cap', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(400);
    expect(backoffDelay(1, policy, () => 0.999999)).toBe(600);
    expect(backoffDelay(3, policy, () => 0.25)).toBe(1800);
    expect(backoffDelay(20, policy, () => 0)).toBe(24000);
    expect(backoffDelay(20, policy, () => 0.999999)).toBe(30000);
  });

  it('stays finite after very many failures', () => {
    expect(backoffDelay(10_000, policy, () => 0.5)).toBe(30000);
  });
});
