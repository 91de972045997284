// Delivers the outbox: oldest first (so in order per camera), up to `maxInFlight` sends
// awaiting their acknowledgement, a row deleted only once its send completed (for MQTT:
// the PUBACK). On a failure it waits for what is in flight, backs off with jitter and
// starts again from the oldest undelivered row (go-back-N), so at least once, in order.
import { backoffDelay, type BackoffPolicy } from '../common/backoff.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { OutgoingEvent } from './message.js';
import type { Outbox, OutboxRow } from './outbox.js';

/** Where events go: the IoT Hub connection or the local sink. */
export interface EventTarget {
  /** False while there is no connection; the sender waits for `ready` instead of failing sends. */
  readonly ready: boolean;
  /** Resolves on the hub's acknowledgement; rejects when it was not acknowledged. */
  send(event: OutgoingEvent): Promise<void>;
  /** Calls back whenever `ready` may have changed. Returns an unsubscribe function. */
  onReadyChange(listener: () => void): () => void;
  /** Drops the connection and makes a new one (a send went unacknowledged: the link is stalled). */
  reconnect?(reason: string): void;
}

export interface SenderDeps {
  outbox: Outbox;
  target: EventTarget;
  toEvent: (row: OutboxRow) => OutgoingEvent;
  maxInFlight: number;
  backoff: BackoffPolicy;
  log: Logger;
  onSent?: (count: number) => void;
  onSendError?: (err: unknown) => void;
  random?: () => number;
  /**
   * A send not acknowledged within this is failed and the target asked to reconnect: a
   * stalled link (no RST) otherwise looks connected until TCP or MQTT keepalive gives up.
   */
  ackTimeoutMs?: number;
  now?: () => number;
}

export interface Sender {
  start(): void;
  /** Wakes the loop (a new row was committed). */
  notify(): void;
  /** Stops sending; waits for sends in flight and records their acknowledgements. */
  stop(): Promise<void>;
  readonly sent: number;
  readonly inFlight: number;
  readonly consecutiveFailures: number;
  /** When the oldest send still awaiting its acknowledgement started (undefined: none in flight). */
  oldestUnackedAt(): number | undefined;
  /** When a send was last acknowledged (undefined: none since start). */
  readonly lastAckAt: number | undefined;
}

/** A send that was not acknowledged in time. */
export class AckTimeoutError extends Error {
  constructor(ms: number) {
    super(`no acknowledgement from IoT Hub within ${Math.round(ms / 1000)} s (the link looks stalled); reconnecting`);
    this.name = 'AckTimeoutError';
  }
}

const ACK_FLUSH_COUNT = 64;
const ACK_FLUSH_MS = 200;

export function createSender(deps: SenderDeps): Sender {
  const { outbox, target, log } = deps;
  const random = deps.random ?? Math.random;
  const now = deps.now ?? Date.now;
  const ackTimeoutMs = deps.ackTimeoutMs ?? 30_000;
  /** Start time of each send awaiting its acknowledgement, by outbox seq. */
  const pendingSince = new Map<number, number>();
  let lastAckAt: number | undefined;

  /** The target's send, failed with AckTimeoutError when the acknowledgement does not come in time (a late one is ignored: resent, at least once). */
  function sendAcked(event: OutgoingEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new AckTimeoutError(ackTimeoutMs);
        reject(err);
        target.reconnect?.(err.message);
      }, ackTimeoutMs);
      timer.unref();
      target.send(event).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let inFlight = 0;
  let sent = 0;
  let failures = 0;
  let acked: number[] = [];
  let lastFlush = Date.now();
  const settled: Array<() => void> = [];

  function notify(): void {
    const w = wake;
    wake = undefined;
    w?.();
  }

  /** Sleeps until notified, a send settles, or `ms` passed. */
  function waitForSignal(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(() => notify(), ms);
    });
  }

  function flushAcks(force: boolean): void {
    if (acked.length === 0) return;
    if (!force && acked.length < ACK_FLUSH_COUNT && inFlight > 0 && Date.now() - lastFlush < ACK_FLUSH_MS) return;
    const batch = acked;
    acked = [];
    lastFlush = Date.now();
    try {
      outbox.ack(batch);
    } catch (err) {
      // The rows stay and are sent again: at least once, never lost.
      log.error({ err }, 'could not record delivered events; they will be sent again');
    }
  }

  async function drainInFlight(): Promise<void> {
    while (inFlight > 0) await new Promise<void>((resolve) => settled.push(resolve));
  }

  async function run(): Promise<void> {
    let cursor = 0;
    let failed: unknown;
    const unsubscribe = target.onReadyChange(notify);
    try {
      while (running) {
        if (failed !== undefined) {
          await drainInFlight();
          flushAcks(true);
          failures += 1;
          const delay = backoffDelay(failures, deps.backoff, random);
          const level = failures === 1 ? 'warn' : 'debug';
          log[level]({ err: failed, failures, retryInMs: delay, pending: outbox.depth() }, 'event send failed; retrying from the oldest undelivered event');
          deps.onSendError?.(failed);
          failed = undefined;
          cursor = 0;
          // A reconnect (ready change) cuts the wait short.
          await waitForSignal(delay);
          continue;
        }
        if (!target.ready) {
          await drainInFlight();
          flushAcks(true);
          cursor = 0;
          if (running && !target.ready) await waitForSignal();
          continue;
        }
        const room = deps.maxInFlight - inFlight;
        const rows = room > 0 ? outbox.pending(cursor, room) : [];
        if (rows.length === 0) {
          flushAcks(inFlight === 0);
          await waitForSignal(acked.length > 0 ? ACK_FLUSH_MS : undefined);
          continue;
        }
        for (const row of rows) {
          cursor = row.seq;
          inFlight += 1;
          let event: OutgoingEvent;
          try {
            event = deps.toEvent(row);
          } catch (err) {
            inFlight -= 1;
            failed = err;
            break;
          }
          pendingSince.set(row.seq, now());
          sendAcked(event).then(
            () => {
              inFlight -= 1;
              pendingSince.delete(row.seq);
              lastAckAt = now();
              acked.push(row.seq);
              sent += 1;
              if (failures > 0) log.info({ failures }, 'events are being delivered again');
              failures = 0;
              deps.onSent?.(1);
              settled.splice(0).forEach((r) => r());
              notify();
            },
            (err: unknown) => {
              inFlight -= 1;
              pendingSince.delete(row.seq);
              if (failed === undefined) failed = err;
              settled.splice(0).forEach((r) => r());
              notify();
            },
          );
        }
        flushAcks(false);
        // Wait for a settle (room in the window) or a new row; the timeout flushes acknowledgements.
        if (failed === undefined) await waitForSignal(ACK_FLUSH_MS);
      }
    } finally {
      unsubscribe();
      await drainInFlight();
      flushAcks(true);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run().catch((err: unknown) => log.error({ err, detail: errorMessage(err) }, 'event sender stopped unexpectedly'));
    },
    notify,
    async stop() {
      running = false;
      notify();
      await loop;
    },
    get sent() {
      return sent;
    },
    get inFlight() {
      return inFlight;
    },
    get consecutiveFailures() {
      return failures;
    },
    oldestUnackedAt() {
      let oldest: number | undefined;
      for (const at of pendingSince.values()) if (oldest === undefined || at < oldest) oldest = at;
      return oldest;
    },
    get lastAckAt() {
      return lastAckAt;
    },
  };
}
