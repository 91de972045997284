// Server-Sent Events to open browsers: new inspections, verdicts, live frames, camera states.
// Bounded: a client that stops reading is dropped (its browser reconnects and re-fetches).
import type { ServerResponse } from 'node:http';

/** Bytes a client may have unread before it is dropped. */
const MAX_BACKLOG_BYTES = 512 * 1024;
const HEARTBEAT_MS = 15_000;

export interface SseHub {
  /** Starts a stream for `owner` (a user name), counted per owner until it closes. */
  add(res: ServerResponse, owner: string): void;
  /** Streams `owner` holds open now. */
  streamsOf(owner: string): number;
  send(event: string, data: unknown): void;
  readonly clients: number;
  close(): void;
}

export function createSseHub(): SseHub {
  const clients = new Set<ServerResponse>();
  const perOwner = new Map<string, number>();
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': ping\n\n');
  }, HEARTBEAT_MS).unref();

  function drop(res: ServerResponse) {
    clients.delete(res);
    res.destroy();
  }

  return {
    add(res, owner) {
      res.writeHead(200, {
        'x-content-type-options': 'nosniff',
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 2000\n\n');
      clients.add(res);
      perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
      res.on('close', () => {
        clients.delete(res);
        const left = (perOwner.get(owner) ?? 1) - 1;
        if (left > 0) perOwner.set(owner, left);
        else perOwner.delete(owner);
      });
    },
    streamsOf(owner) {
      return perOwner.get(owner) ?? 0;
    },
    send(event, data) {
      if (clients.size === 0) return;
      const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const res of clients) {
        if (res.writableLength > MAX_BACKLOG_BYTES) drop(res);
        else res.write(text);
      }
    },
    get clients() {
      return clients.size;
    },
    close() {
      clearInterval(heartbeat);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
