import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { CameraState } from '../../src/common/types.js';
import { cameraConfig, childProcesses, ffmpeg, isAlive, makeClip, takeFrames } from './helpers.js';
import { publish, startRtspServer, startRtspServerProcess, stopPublisher as stop, type LocalRtsp } from '../helpers/rtsp.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
let clip: string;
let rtsp: LocalRtsp;
let publisher: ChildProcess | undefined;
let camera: Camera | undefined;

/** ffmpeg publishing the looping clip to the server, as an IP camera would serve it. */
function startPublisher(): void {
  publisher = publish(rtsp, clip, 'cam1');
}

async function stopPublisher(): Promise<void> {
  const p = publisher;
  publisher = undefined;
  await stop(p);
}

const mounted = (): boolean => rtsp.mounted('cam1');

/** The clip published, and a started camera reading it over UDP at 10 fps. */
async function publishedCamera(): Promise<Camera> {
  startPublisher();
  await until('the stream to be published', mounted, 10_000);
  const cam = createCamera({
    config: cameraConfig({ source: rtsp.url('cam1'), rtspTransport: 'udp', fps: 10, watchdog: { stallSeconds: 20, backoffInitialMs: 200, backoffMaxMs: 1000, offlineAfterFailures: 20 } }),
    inferenceSize: { width: 64, height: 64 },
    baseDir: dir,
    log: silentLogger(),
  });
  cam.start();
  return cam;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  clip = await makeClip(dir);
  rtsp = await startRtspServer();
});

afterAll(async () => {
  await camera?.stop();
  await stopPublisher();
  rtsp?.close();
  await cleanup();
});

describe('RTSP source', () => {
  it('reads a published stream, reconnects after the publisher goes away, and leaves no ffmpeg behind', async () => {
    startPublisher();
    await until('the stream to be published', mounted, 10_000);

    const url = rtsp.url('cam1');
    const states: CameraState[] = [];
    const backoffMaxMs = 1000;
    camera = createCamera({
      config: cameraConfig({
        source: url,
        rtspTransport: 'udp',
        fps: 5,
        watchdog: { stallSeconds: 3, backoffInitialMs: 200, backoffMaxMs, offlineAfterFailures: 20 },
      }),
      inferenceSize: { width: 64, height: 64 },
      baseDir: dir,
      log: silentLogger(),
      onStatus: (s) => states.push(s.state),
    });
    camera.start();

    const frames = await takeFrames(camera, 4, 20_000);
    for (const f of frames) {
      expect([f.width, f.height, f.data.length]).toEqual([64, 64, 64 * 64 * 3]);
      expect(f.full && [f.full.width, f.full.height]).toEqual([300, 300]);
    }
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.seq).toBeGreaterThan(frames[i - 1]!.seq);
    expect(camera.status().state).toBe('online');
    const pids = await childProcesses(url);
    expect(pids).toHaveLength(1);

    await stopPublisher();
    await until('the camera to notice', () => camera!.status().state === 'reconnecting', 15_000);
    expect(camera.status().lastError).toBeTruthy();
    expect(pids.filter(isAlive)).toEqual([]);

    // Let a few reconnect attempts fail (no stream published), then bring the stream back.
    await until('failed reconnects', () => camera!.status().reconnects >= 3, 15_000);
    const framesBefore = camera.status().framesIn;
    startPublisher();
    await until('the stream to be published again', mounted, 10_000);
    // Within one maximal backoff (+20% jitter cap) plus time for ffmpeg to connect and see a keyframe.
    await until('frames to resume', () => camera!.status().framesIn > framesBefore + 1, backoffMaxMs + 8000);
    const [resumed] = await takeFrames(camera, 1);
    expect(resumed!.seq).toBeGreaterThan(frames.at(-1)!.seq);
    expect(camera.status().state).toBe('online');
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('online');

    // A live stream that was read in time lost nothing (the slack covers bursts).
    expect(camera.status().framesLost).toBe(0);

    const running = await childProcesses(url);
    expect(running).toHaveLength(1);
    await camera.stop();
    for (const pid of running) expect(() => process.kill(pid, 0)).toThrow();
    expect(await childProcesses(url)).toEqual([]);
  });

  it("starts a connection at the stream's rate, without a burst of the frames read while probing", async () => {
    // ffmpeg used to decode the packets it read while probing the stream (about a second's worth)
    // and hand them over at once: 16-18 frames in the first second at 10 fps, stale ones, which
    // also hid as many frames lost later from framesLost.
    camera = await publishedCamera();
    const first = await camera.next(AbortSignal.timeout(20_000));
    expect(first).toBeDefined();
    first!.release();
    await new Promise((r) => setTimeout(r, first!.capturedAt + 1000 - Date.now()));
    const inFirstSecond = camera.status().framesIn;
    expect(inFirstSecond).toBeGreaterThanOrEqual(7);
    expect(inFirstSecond).toBeLessThanOrEqual(13);
    await camera.stop();
    await stopPublisher();
  });

  it('counts the frames a stream sent that were never read while the reader was held back', async () => {
    camera = await publishedCamera();
    await takeFrames(camera, 5, 20_000);
    const before = camera.status();
    // Hold the event loop (as a busy main thread did): ffmpeg cannot hand over its frames, stops
    // reading its socket, and the stream's packets for those seconds are gone.
    const until3s = Date.now() + 3000;
    while (Date.now() < until3s) {
      // busy
    }
    await until('frames again', () => camera!.status().framesIn > before.framesIn + 10, 20_000);
    const after = camera.status();
    // About 30 frames were due in those 3 s at 10 fps; those that never came are counted as lost.
    const due = 30;
    const read = after.framesIn - before.framesIn;
    expect(after.framesLost!).toBeGreaterThan(0);
    expect(after.framesLost! + read).toBeGreaterThanOrEqual(due * 0.6);
    await camera.stop();
    await stopPublisher();
  });
});

describe('RTSP source while the line thread is busy', () => {
  it('keeps reading the camera while the line thread is held: frames are read and counted as dropped, none lost', async () => {
    // The server in a process of its own, as a real camera is: holding this thread holds only the reader.
    const server = await startRtspServerProcess(20);
    // 720p: a full-resolution frame (2.76 MB) is many times what a socket holds, so a reader
    // on the held thread would stop ffmpeg, which then stops reading the stream.
    const big = path.join(dir, 'clip-720p.mp4');
    await ffmpeg(['-i', clip, '-vf', 'scale=1280:720', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '12', '-g', '5', big]);
    const pub = publish(server, big, 'busy');
    const cam = createCamera({
      config: cameraConfig({ id: 'busy', source: server.url('busy'), rtspTransport: 'udp', fps: 10, fullResolution: true, watchdog: { stallSeconds: 20, backoffInitialMs: 200, backoffMaxMs: 1000, offlineAfterFailures: 20 } }),
      inferenceSize: { width: 64, height: 64 },
      baseDir: dir,
      log: silentLogger(),
    });
    try {
      cam.start();
      const first = await takeFrames(cam, 10, 20_000);
      expect(first.at(-1)!.full).toMatchObject({ width: 1280, height: 720 });
      const before = cam.status();
      const heldAt = Date.now();
      while (Date.now() < heldAt + 3000) {
        // busy, as a thread running the model for ten cameras is
      }
      // Frames read while the thread was held arrive at once; 30 were due in those 3 s.
      await until('frames again', () => cam.status().framesIn >= before.framesIn + 35, 20_000);
      const after = cam.status();
      expect(after.framesLost! - before.framesLost!).toBeLessThanOrEqual(3); // 24 of 30 with the sockets read on this thread
      // The line could not take them in time: that is a drop it chose, counted as such.
      expect(after.framesDropped - before.framesDropped).toBeGreaterThanOrEqual(20);
      // And each carries the time it was read, not the time the thread got to it.
      const [next] = await takeFrames(cam, 1, 5_000);
      expect(next!.capturedAt).toBeGreaterThan(heldAt + 3000);
    } finally {
      await cam.stop();
      await stop(pub);
      await server.close();
    }
  });
});
