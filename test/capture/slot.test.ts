import { describe, expect, it } from 'vitest';
import { BufferPool, FrameSlot } from '../../src/capture/index.js';
import type { Frame } from '../../src/common/types.js';

function frame(seq: number, released: number[]): Frame {
  return {
    cameraId: 'cam1',
    seq,
    capturedAt: seq,
    width: 1,
    height: 1,
    pixelFormat: 'rgb24',
    data: Buffer.alloc(3),
    release: () => released.push(seq),
  };
}

describe('FrameSlot', () => {
  it('keeps only the newest frame, releasing and counting the ones it replaced', async () => {
    const released: number[] = [];
    const slot = new FrameSlot();
    slot.put(frame(1, released));
    slot.put(frame(2, released));
    slot.put(frame(3, released));
    expect((await slot.take())?.seq).toBe(3);
    expect(released).toEqual([1, 2]);
    expect(slot.dropped).toBe(2);
  });

  it('hands a frame straight to a waiting consumer without a drop', async () => {
    const slot = new FrameSlot();
    const taken = slot.take();
    slot.put(frame(7, []));
    expect((await taken)?.seq).toBe(7);
    expect(slot.dropped).toBe(0);
  });

  it('resolves undefined on abort and once closed, and releases a frame put after close', async () => {
    const released: number[] = [];
    const slot = new FrameSlot();
    const controller = new AbortController();
    const waiting = slot.take(controller.signal);
    controller.abort();
    expect(await waiting).toBeUndefined();
    slot.put(frame(1, released));
    const pending = slot.take();
    const pendingAfter = slot.take();
    expect((await pending)?.seq).toBe(1);
    slot.close();
    expect(await pendingAfter).toBeUndefined();
    slot.put(frame(2, released));
    expect(released).toEqual([2]);
    expect(await slot.take()).toBeUndefined();
  });
});

describe('FrameSlot.fresher', () => {
  it('swaps a held frame for a newer waiting one, releasing and counting the held one', () => {
    const released: number[] = [];
    const slot = new FrameSlot();
    const held = frame(1, released);
    expect(slot.fresher(held)).toBe(held);
    expect(slot.dropped).toBe(0);
    slot.put(frame(2, released));
    slot.put(frame(3, released));
    expect(slot.fresher(held).seq).toBe(3);
    expect(released).toEqual([2, 1]);
    expect(slot.dropped).toBe(2);
    expect(slot.full).toBe(false);
  });
});

describe('BufferPool', () => {
  it('reuses released buffers and never grows past its capacity', () => {
    const pool = new BufferPool(12, 2);
    const a = pool.acquire()!;
    const b = pool.acquire()!;
    expect(pool.acquire()).toBeUndefined();
    pool.release(a);
    expect(pool.acquire()).toBe(a);
    pool.release(b);
    pool.release(b);
    expect(pool.acquire()).toBe(b);
    expect(pool.acquire()).toBeUndefined();
    expect(pool.allocated).toBe(2);
  });
});
