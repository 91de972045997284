import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { RtspServer } from 'rtsp-streaming-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCamera, type Camera } from '../../src/capture/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { CameraState } from '../../src/common/types.js';
import { cameraConfig, childProcesses, isAlive, makeClip, takeFrames } from './helpers.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** An even port starting `count` free UDP ports (RTP/RTCP pairs for the server). */
async function freeUdpRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 20000 + 2 * Math.floor(Math.random() * 15000);
    const sockets: dgram.Socket[] = [];
    try {
      for (let p = start; p < start + count; p++) {
        const s = dgram.createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(p, () => resolve());
        });
      }
      return start;
    } catch {
      // Taken: try another range.
    } finally {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())).catch(() => {})));
    }
  }
  throw new Error('no free UDP port range');
}

let dir: string;
let cleanup: () => Promise<void>;
let clip: string;
let server: RtspServer;
let publishPort: number;
let clientPort: number;
let publisher: ChildProcess | undefined;
let camera: Camera | undefined;

/** ffmpeg publishing the looping clip to the server, as an IP camera would serve it. */
function startPublisher(): void {
  publisher = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', `rtsp://127.0.0.1:${publishPort}/cam1`],
    { stdio: 'ignore' },
  );
}

async function stopPublisher(): Promise<void> {
  const p = publisher;
  publisher = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  // SIGTERM lets ffmpeg send TEARDOWN, so the server drops the mount and a new publisher can take it.
  p.kill('SIGTERM');
  await exited;
}

const mounted = (): boolean => server.Mounts.getMount(`rtsp://127.0.0.1:${publishPort}/cam1`) !== undefined;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  clip = await makeClip(dir);
  publishPort = await freeTcpPort();
  clientPort = await freeTcpPort();
  server = new RtspServer({ serverPort: publishPort, clientPort, rtpPortStart: await freeUdpRange(40), rtpPortCount: 40 });
  await server.start();
});

afterAll(async () => {
  await camera?.stop();
  await stopPublisher();
  server?.PublishServer.server.close();
  server?.ClientServer.server.close();
  await cleanup();
});

describe('RTSP source', () => {
  it('reads a published stream, reconnects after the publisher goes away, and leaves no ffmpeg behind', async () => {
    startPublisher();
    await until('the stream to be published', mounted, 10_000);

    const url = `rtsp://127.0.0.1:${clientPort}/cam1`;
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

    const running = await childProcesses(url);
    expect(running).toHaveLength(1);
    await camera.stop();
    for (const pid of running) expect(() => process.kill(pid, 0)).toThrow();
    expect(await childProcesses(url)).toEqual([]);
  });
});
