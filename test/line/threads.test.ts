// The model's intra-op threads on the line when model.threads is 0: a core for the event
// loop, a tenth of a core per camera for its ffmpeg, at least one thread.
import { describe, expect, it } from 'vitest';
import { lineThreads } from '../../src/inference/index.js';

describe('lineThreads', () => {
  it('leaves a core to the event loop and a tenth per camera, never below one', () => {
    expect([1, 6, 8].map((cameras) => lineThreads(cameras, 2))).toEqual([1, 1, 1]);
    expect([1, 6, 20].map((cameras) => lineThreads(cameras, 4))).toEqual([2, 2, 1]);
    expect([1, 6, 10, 30].map((cameras) => lineThreads(cameras, 8))).toEqual([6, 6, 6, 4]);
    expect(lineThreads(1, 1)).toBe(1);
  });
});
