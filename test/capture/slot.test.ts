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

describe('FrameSlot with staleMs (one frame interval)', () => {
  const at = (seq: number, capturedAt: number, released: number[]): Frame => ({ ...frame(seq, released), capturedAt });

  it('keeps two frames that came close together, in order, while the consumer keeps up', async () => {
    let now = 1000;
    const released: number[] = [];
    const slot = new FrameSlot({ staleMs: 100, now: () => now });
    // Jitter: two frames 10 ms apart while the consumer is busy with an earlier one.
    slot.put(at(1, 1000, released));
    now = 1010;
    slot.put(at(2, 1010, released));
    now = 1030;
    expect((await slot.take())?.seq).toBe(1);
    expect((await slot.take())?.seq).toBe(2);
    expect(slot.dropped).toBe(0);
    expect(released).toEqual([]);
  });

  it('lets the newest win once a waiting frame is an interval old, and never holds more than two', async () => {
    let now = 1000;
    const released: number[] = [];
    const slot = new FrameSlot({ staleMs: 100, now: () => now });
    slot.put(at(1, 1000, released));
    slot.put(at(2, 1001, released));
    slot.put(at(3, 1002, released));
    // A third frame: the oldest is dropped, whatever its age.
    expect(released).toEqual([1]);
    now = 1150;
    // Both waiting frames are stale: only the newest is worth inspecting.
    expect((await slot.take())?.seq).toBe(3);
    expect(released).toEqual([1, 2]);
    expect(slot.dropped).toBe(2);
  });

  it('keeps a held frame that is not stale at the model door, and swaps a stale one for the next waiting', () => {
    let now = 1000;
    const released: number[] = [];
    const slot = new FrameSlot({ staleMs: 100, now: () => now });
    const held = at(1, 990, released);
    slot.put(at(2, 1000, released));
    expect(slot.fresher(held)).toBe(held);
    expect(slot.full).toBe(true);
    now = 1095;
    const next = slot.fresher(held);
    expect(next.seq).toBe(2);
    expect(released).toEqual([1]);
    expect(slot.dropped).toBe(1);
  });
});
