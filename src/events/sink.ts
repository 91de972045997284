// No IoT Hub configured: events are appended to a JSON-lines file under the data dir,
// through the same outbox and sender, so the demo shows exactly what would be sent.
import fs from 'node:fs';
import path from 'node:path';
import { CONTENT_ENCODING, CONTENT_TYPE, type OutgoingEvent } from './message.js';
import type { EventTarget } from './sender.js';

export interface LocalSinkLine {
  messageId: string;
  contentType: string;
  contentEncoding: string;
  properties: Record<string, string>;
  body: unknown;
  /** ISO time the line was written. */
  sentAt: string;
}

export interface LocalSink extends EventTarget {
  readonly file: string;
  close(): void;
}

export function createLocalSink(file: string): LocalSink {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let fd: number | undefined = fs.openSync(file, 'a');
  return {
    file,
    ready: true,
    async send(event: OutgoingEvent) {
      if (fd === undefined) throw new Error('local event sink is closed');
      const line: LocalSinkLine = {
        messageId: event.messageId,
        contentType: CONTENT_TYPE,
        contentEncoding: CONTENT_ENCODING,
        properties: event.properties,
        body: JSON.parse(event.body) as unknown,
        sentAt: new Date().toISOString(),
      };
      // One write per line: a crash leaves whole lines (and the outbox sends the rest again).
      fs.writeSync(fd, `${JSON.stringify(line)}\n`);
    },
    onReadyChange() {
      return () => {};
    },
    close() {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}
