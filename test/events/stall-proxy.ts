// A TCP proxy in front of the fake hub that can stall silently: while stalled, bytes in both
// directions are held back (not dropped, no RST, no FIN), as on a link whose packets stop
// getting through; unstalled, what was held is passed on, as TCP retransmission would.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface StallProxy {
  readonly port: number;
  stall(): void;
  unstall(): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetPort: number): Promise<StallProxy> {
  let stalled = false;
  const flushers = new Set<() => void>();
  const sockets = new Set<net.Socket>();
  const gate = (from: net.Socket, to: net.Socket): void => {
    const held: Buffer[] = [];
    const flush = () => {
      for (const chunk of held.splice(0)) if (!to.destroyed) to.write(chunk);
    };
    flushers.add(flush);
    from.on('data', (chunk: Buffer) => {
      if (stalled) held.push(chunk);
      else to.write(chunk);
    });
    from.on('close', () => {
      flushers.delete(flush);
      // A peer that closed while stalled: the other side hears of it only when the link is back.
      if (!stalled) to.destroy();
    });
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    gate(client, upstream);
    gate(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stall() {
      stalled = true;
    },
    unstall() {
      stalled = false;
      for (const flush of flushers) flush();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
