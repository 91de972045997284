// Server-Sent Events to open browsers: new inspections, verdicts, live frames, camera states.
// Bounded: a client that stops reading is dropped (its browser reconnects and re-fetches).
import type { ServerResponse } from 'node:http';

/** Bytes a client may have unread before it is dropped. */
const MAX_BACKLOG_BYTES = 512 * 1024;
const HEARTBEAT_MS = 15_000;

export interface SseHub {
  add(res: ServerResponse): void;
  send(event: string, data: unknown): void;
  readonly clients: number;
  close(): void;
}

export function createSseHub(): SseHub {
  const clients = new Set<ServerResponse>();
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': ping\n\n');
  }, HEARTBEAT_MS).unref();

  function drop(res: ServerResponse) {
    clients.delete(res);
    res.destroy();
  }

  return {
    add(res) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 2000\n\n');
      clients.add(res);
      res.on('close', () => clients.delete(res));
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
