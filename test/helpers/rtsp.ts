// A local RTSP server (rtsp-streaming-server, UDP) on free ports, and ffmpeg publishing a
// looping clip to it as an IP camera would serve it: for the capture tests and bench/line.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { RtspServer } from 'rtsp-streaming-server';

export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** An even port starting `count` free UDP ports (RTP/RTCP pairs for the server). */
export async function freeUdpRange(count: number): Promise<number> {
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

export interface LocalRtsp {
  server: RtspServer;
  publishPort: number;
  clientPort: number;
  /** The URL a camera reads `name` from. */
  url(name: string): string;
  /** True once a publisher has mounted `name`. */
  mounted(name: string): boolean;
  close(): void;
}

export async function startRtspServer(options: { rtpPorts?: number } = {}): Promise<LocalRtsp> {
  const publishPort = await freeTcpPort();
  const clientPort = await freeTcpPort();
  const rtpPortCount = options.rtpPorts ?? 40;
  const server = new RtspServer({ serverPort: publishPort, clientPort, rtpPortStart: await freeUdpRange(rtpPortCount), rtpPortCount });
  await server.start();
  return {
    server,
    publishPort,
    clientPort,
    url: (name) => `rtsp://127.0.0.1:${clientPort}/${name}`,
    mounted: (name) => server.Mounts.getMount(`rtsp://127.0.0.1:${publishPort}/${name}`) !== undefined,
    close() {
      server.PublishServer.server.close();
      server.ClientServer.server.close();
    },
  };
}

/** The RTSP server in a process of its own (rtsp-server.ts), with `rtpPorts` UDP ports. */
export interface RtspServerProcess {
  child: ChildProcess;
  publishPort: number;
  url(name: string): string;
  close(): Promise<void>;
}

export async function startRtspServerProcess(rtpPorts = 200): Promise<RtspServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'rtsp-server.ts'), String(rtpPorts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(readline.createInterface({ input: child.stdout! }), 'line')) as [string];
  const { publishPort, clientPort } = JSON.parse(line) as { publishPort: number; clientPort: number };
  return {
    child,
    publishPort,
    url: (name) => `rtsp://127.0.0.1:${clientPort}/${name}`,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** ffmpeg publishing `clip` (looping, at its own frame rate) to the server under `name`. */
export function publish(rtsp: Pick<LocalRtsp, 'publishPort'>, clip: string, name: string): ChildProcess {
  return spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', `rtsp://127.0.0.1:${rtsp.publishPort}/${name}`],
    { stdio: 'ignore' },
  );
}

/** Stops a publisher with SIGTERM (ffmpeg sends TEARDOWN, so the server drops the mount) and waits for it. */
export async function stopPublisher(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}
