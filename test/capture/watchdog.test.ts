import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera, type CameraDeps, type Timers } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { CameraState } from '../../src/common/types.js';
import { cameraConfig, childProcesses, isAlive } from './helpers.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

let dir: string;
let cleanup: () => Promise<void>;
const cameras: Camera[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});

afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  await cleanup();
});

/** Real timers that remember every delay asked for. */
function recordingTimers(): { timers: Timers; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    timers: {
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return setTimeout(fn, ms);
      },
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    },
  };
}

function camera(config: Record<string, unknown>, extra: Partial<CameraDeps>): { cam: Camera; states: CameraState[] } {
  const states: CameraState[] = [];
  const cam = createCamera({
    config: cameraConfig(config),
    inferenceSize: { width: 32, height: 32 },
    baseDir: dir,
    log: silentLogger(),
    onStatus: (s) => states.push(s.state),
    ...extra,
  });
  cameras.push(cam);
  return { cam, states };
}

describe('watchdog', () => {
  it('restarts a failing ffmpeg with exponential backoff and reports offline after repeated failures', async () => {
    const { timers, delays } = recordingTimers();
    // Node itself stands in for a broken ffmpeg: it rejects ffmpeg's options and exits non-zero.
    const { cam, states } = camera(
      { source: 'rtsp://127.0.0.1:9/none', watchdog: { stallSeconds: 30, backoffInitialMs: 100, backoffMaxMs: 400, offlineAfterFailures: 3 } },
      { ffmpegPath: process.execPath, random: () => 0.5, timers },
    );
    cam.start();
    await until('five failures', () => cam.status().reconnects >= 5);
    const status = cam.status();
    expect(status.state).toBe('offline');
    expect(status.lastError).toMatch(/exited with code \d+: .*bad option/);
    expect(states.slice(0, 3)).toEqual(['starting', 'reconnecting', 'offline']);
    // Stall checks use 30 s; everything shorter is a reconnect delay.
    expect(delays.filter((ms) => ms < 30_000).slice(0, 5)).toEqual([100, 200, 400, 400, 400]);
    await cam.stop();
    expect(cam.status().state).toBe('stopped');
    const reconnects = cam.status().reconnects;
    await new Promise((r) => setTimeout(r, 500));
    expect(cam.status().reconnects).toBe(reconnects);
  });

  it('reports a missing ffmpeg binary as the failure reason', async () => {
    const { cam } = camera({ source: 'clip.mp4', watchdog: { backoffInitialMs: 50, backoffMaxMs: 100 } }, { ffmpegPath: 'visor-no-such-ffmpeg' });
    cam.start();
    await until('a failure', () => cam.status().reconnects >= 1);
    expect(cam.status().lastError).toMatch(/cannot start visor-no-such-ffmpeg: .*ENOENT/);
  });

  it('kills an ffmpeg that delivers no frames within stallSeconds and starts a new one', async () => {
    // An "RTSP server" that accepts connections and never answers: ffmpeg hangs in the handshake.
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    const url = `rtsp://127.0.0.1:${port}/silent`;
    // The watchdog's clock stands still until the test has found the first ffmpeg, so a busy
    // machine cannot let the stall restart replace it before it is seen.
    let clockRuns = false;
    const started = Date.now();
    const now = (): number => (clockRuns ? Date.now() : started);
    try {
      const { cam, states } = camera({ source: url, watchdog: { stallSeconds: 0.5, backoffInitialMs: 100, backoffMaxMs: 200 } }, { now });
      cam.start();
      await until('ffmpeg to connect', () => sockets.size > 0);
      const [first] = await childProcesses(url);
      expect(first).toBeDefined();
      expect(cam.status().reconnects).toBe(0);
      clockRuns = true;
      await until('a stall restart', () => cam.status().reconnects >= 1);
      expect(cam.status().lastError).toMatch(/no frame for 0.5s/);
      expect(states.slice(0, 2)).toEqual(['starting', 'reconnecting']);
      await until('the stalled ffmpeg to be gone', () => !isAlive(first!), 5000);
      await until('a new ffmpeg', () => sockets.size > 0 && cam.status().reconnects >= 1, 5000);
      await cam.stop();
      expect(await childProcesses(url)).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
