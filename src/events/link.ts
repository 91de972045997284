// The `events` extension, the link every IoT Hub feature shares: which way out (device, DPS,
// IoT Edge module, or a local JSON-lines sink when no hub is configured), the durable outbox
// fed in the inspection's own transaction, its sender, the reported properties and the status
// that getStatus, health messages and /healthz show. The features on the link (twin, direct
// methods and C2D, model updates, metrics, health messages) are extensions of their own; the
// composition root hands them this object, they register their handlers on it in start(), and
// the link starts after them, so the hub connects with every handler in place.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackoffPolicy } from '../common/backoff.js';
import type { Logger } from '../common/log.js';
import type { CameraState } from '../common/types.js';
import { VERSION } from '../common/version.js';
import { resolvePath } from '../config/paths.js';
import type { AppContext, Extension } from '../line/extension.js';
import { createHubConnection, selectHubMode, type HubConnection, type HubHandlers, type HubMode, type HubStatus } from './hub.js';
import type { OutgoingEvent } from './message.js';
import { createOutbox, toOutgoing, type DropCounts, type Outbox } from './outbox.js';
import { createReportedState, type ReportedState } from './reported.js';
import { createSender } from './sender.js';
import { createLocalSink, type LocalSink } from './sink.js';

export interface EventsStatus {
  software: { version: string };
  connection: HubStatus | { mode: 'local'; state: 'connected'; sink: string };
  model: { name: string; version: string; task: string; sha256: string };
  cameras: Array<{ id: string; state: CameraState; framesIn: number; framesDropped: number; thresholds: { defect: number; uncertainBand: number } }>;
  outbox: { depth: number; oldestAgeSeconds: number | null; dropped: DropCounts };
  eventsSent: number;
  inspected: number;
}

export interface EventsOptions {
  /** Environment to detect IoT Edge from (default process.env; the SDK itself reads process.env). */
  env?: NodeJS.ProcessEnv;
  random?: () => number;
}

/** What happens to events, for whoever counts it. */
export interface DeliveryObserver {
  sent?(count: number): void;
  sendFailed?(): void;
  dropped?(reason: keyof DropCounts, count: number): void;
}

export interface EventsExtension extends Extension {
  readonly mode: HubMode | 'local';
  /** Path of the local sink file (local mode only). */
  readonly sinkFile: string | undefined;
  /** The events module's logger. */
  readonly log: Logger;
  /** events.backoffInitialMs / backoffMaxMs, for every retry of the events extensions. */
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
  readonly outbox: Outbox;
  /** Whether uncertain inspections become events too (the config's value until the twin sets it). */
  sendUncertain: boolean;
  status(): EventsStatus;
  /** Adds hub handlers (desired properties, direct methods, C2D, on-connect); returns the function that removes them. */
  handle(part: Partial<HubHandlers>): () => void;
  /** The reported properties, by section. */
  readonly reported: ReportedState;
  /** Returns the function that removes the observer. */
  observe(observer: DeliveryObserver): () => void;
  /** Sends a message that is not kept in the outbox (health); false when not connected. */
  sendVolatile(event: OutgoingEvent): boolean;
}

const PRUNE_INTERVAL_MS = 60_000;
const DROP_LOG_INTERVAL_MS = 10_000;
const STOP_GRACE_MS = 3000;

export function createEventsExtension(ctx: AppContext, options: EventsOptions = {}): EventsExtension {
  const config = ctx.config.events;
  const log = ctx.log.child({ module: 'events' });
  const mode = selectHubMode(config, options.env ?? process.env);
  const random = options.random ?? Math.random;
  const backoff = { initialMs: config.backoffInitialMs, maxMs: config.backoffMaxMs };
  const observers = new Set<DeliveryObserver>();
  const observe = (call: (o: DeliveryObserver) => void) => {
    for (const o of observers) call(o);
  };

  // Handlers registered by the features; the hub wires the methods present at each connect.
  const parts = new Set<Partial<HubHandlers>>();
  const methods: HubHandlers['methods'] = {};
  const handlers: HubHandlers = {
    onDesired(desired) {
      for (const p of parts) p.onDesired?.(desired);
    },
    methods,
    async onC2d(message) {
      for (const p of parts) if (p.onC2d) return p.onC2d(message);
      return { ok: false, reason: 'no cloud-to-device commands are handled' };
    },
    onConnected() {
      reported.soon();
      for (const p of parts) p.onConnected?.();
    },
  };

  let sink: LocalSink | undefined;
  let hub: HubConnection | undefined;
  if (mode === 'local') sink = createLocalSink(path.resolve(ctx.store.dataDir, config.localSink));
  else {
    const ca = config.caFile ? readFileSync(resolvePath(ctx.baseDir, config.caFile), 'utf8') : undefined;
    hub = createHubConnection({ mode, config, ca, backoff, log, random, handlers });
  }
  const target = hub ?? sink!;
  const reported = createReportedState({ hub, log });

  let sendUncertain = config.sendUncertain;
  let droppedSinceLog = 0;
  let lastDropLog = Number.NEGATIVE_INFINITY;
  const outbox = createOutbox({
    db: ctx.store.db,
    maxMessages: config.outboxMaxMessages,
    maxAgeMs: config.outboxMaxAgeHours * 3600_000,
    sendUncertain: () => sendUncertain,
    onDrop(reason, count) {
      observe((o) => o.dropped?.(reason, count));
      droppedSinceLog += count;
      const t = Date.now();
      if (t - lastDropLog >= DROP_LOG_INTERVAL_MS) {
        log.warn({ reason, dropped: droppedSinceLog, totals: outbox.dropped() }, 'undelivered events dropped by the outbox bounds');
        droppedSinceLog = 0;
        lastDropLog = t;
      }
      reported.soon();
    },
  });
  const removeHook = ctx.store.onSave((inspection) => outbox.enqueue(inspection));

  const sender = createSender({
    outbox,
    target,
    toEvent: toOutgoing,
    maxInFlight: config.maxInFlight,
    backoff,
    log,
    random,
    onSent: (n) => observe((o) => o.sent?.(n)),
    onSendError: () => observe((o) => o.sendFailed?.()),
    ackTimeoutMs: config.ackTimeoutSeconds * 1000,
  });

  function model(): EventsStatus['model'] {
    const m = ctx.control.inferencer.manifest;
    return { name: m.name, version: m.version, task: m.task, sha256: m.sha256 };
  }
  function cameras(): EventsStatus['cameras'] {
    return ctx.cameras.map((c) => {
      const s = c.status();
      return { id: c.id, state: s.state, framesIn: s.framesIn, framesDropped: s.framesDropped, thresholds: ctx.control.thresholds(c.id) };
    });
  }
  function status(): EventsStatus {
    const oldest = outbox.oldestCreatedAt();
    return {
      software: { version: VERSION },
      connection: hub ? hub.status() : { mode: 'local', state: 'connected', sink: sink!.file },
      model: model(),
      cameras: cameras(),
      outbox: { depth: outbox.depth(), oldestAgeSeconds: oldest === undefined ? null : Math.round((Date.now() - oldest) / 1000), dropped: outbox.dropped() },
      eventsSent: sender.sent,
      inspected: ctx.pipeline.inspected,
    };
  }

  reported.section('software', () => ({ version: VERSION }));
  reported.section('model', model);
  reported.section('cameras', () => Object.fromEntries(cameras().map((c) => [c.id, { state: c.state, thresholds: c.thresholds }])));
  reported.section('outbox', () => {
    const dropped = outbox.dropped();
    return { depth: outbox.depth(), droppedOverflow: dropped.overflow, droppedAge: dropped.age };
  });
  reported.section('events', () => ({ sendUncertain }));

  // Health from acknowledgements, not from the socket: a stalled link stays "connected" while
  // nothing is acknowledged and the outbox grows.
  ctx.health.add('events', () => {
    const s = hub?.status();
    const t = Date.now();
    const seconds = (at: number | undefined) => (at === undefined ? null : Math.round((t - at) / 1000));
    const unackedSince = sender.oldestUnackedAt();
    const oldest = outbox.oldestCreatedAt();
    const depth = outbox.depth();
    const problems: string[] = [];
    if (s && s.state !== 'connected') problems.push(`IoT Hub ${s.state}${s.lastError ? `: ${s.lastError}` : ''}`);
    if (unackedSince !== undefined && t - unackedSince > config.ackTimeoutSeconds * 1000) problems.push(`a sent event has not been acknowledged for ${seconds(unackedSince)} s`);
    if (oldest !== undefined && t - oldest > config.degradedOutboxAgeSeconds * 1000) problems.push(`the oldest undelivered event is ${seconds(oldest)} s old`);
    if (depth > config.degradedOutboxDepth) problems.push(`${depth} events wait in the outbox (more than ${config.degradedOutboxDepth})`);
    return {
      ok: problems.length === 0,
      ...(problems.length > 0 ? { reason: problems.join('; ') } : {}),
      mode,
      connection: s?.state ?? 'local',
      ...(s?.lastError !== undefined ? { lastError: s.lastError } : {}),
      outboxDepth: depth,
      outboxOldestAgeSeconds: seconds(oldest),
      oldestUnackedSeconds: seconds(unackedSince),
      lastAckAgeSeconds: seconds(sender.lastAckAt),
      dropped: outbox.dropped(),
      sent: sender.sent,
    };
  });

  function prune(): void {
    try {
      outbox.prune();
    } catch (err) {
      log.error({ err }, 'outbox prune failed');
    }
  }

  let pruneTimer: NodeJS.Timeout | undefined;
  const unsubscribers: Array<() => void> = [];

  return {
    name: 'events',
    mode,
    get sinkFile() {
      return sink?.file;
    },
    log,
    backoff,
    random,
    outbox,
    get sendUncertain() {
      return sendUncertain;
    },
    set sendUncertain(value: boolean) {
      sendUncertain = value;
    },
    status,
    handle(part) {
      parts.add(part);
      Object.assign(methods, part.methods);
      return () => {
        parts.delete(part);
        for (const name of Object.keys(part.methods ?? {})) if (methods[name] === part.methods![name]) delete methods[name];
      };
    },
    reported,
    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    sendVolatile(event) {
      // Health is current state, not history: not kept in the outbox, skipped while offline.
      if (!target.ready) return false;
      target.send(event).catch((err: unknown) => log.debug({ err }, 'message not sent'));
      return true;
    },
    async start() {
      prune();
      let lastStates = new Map(ctx.cameras.map((c) => [c.id, c.status().state]));
      unsubscribers.push(
        ctx.bus.on('inspection', () => sender.notify()),
        ctx.bus.on('cameraStatus', (s) => {
          if (lastStates.get(s.cameraId) !== s.state) {
            lastStates = new Map(lastStates).set(s.cameraId, s.state);
            reported.soon();
          }
        }),
        ctx.bus.on('model', () => reported.soon()),
        // A promotion or rollback (src/learning) is a durable event of its own.
        ctx.bus.on('modelChange', (change) => {
          outbox.enqueueModelChange(change);
          sender.notify();
        }),
        ctx.bus.on('thresholds', () => reported.soon()),
      );
      pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS);
      pruneTimer.unref();
      hub?.start();
      sender.start();
      log.info({ mode, pending: outbox.depth(), ...(sink ? { sink: sink.file } : {}) }, 'events started');
    },
    async stop() {
      clearInterval(pruneTimer);
      reported.stop();
      for (const off of unsubscribers.splice(0)) off();
      // Give sends in flight a moment to be acknowledged, then cut the connection.
      const senderStopped = sender.stop();
      await Promise.race([senderStopped, new Promise((r) => setTimeout(r, STOP_GRACE_MS))]);
      await hub?.stop();
      await senderStopped;
      removeHook();
      sink?.close();
      log.info({ pending: outbox.depth(), sent: sender.sent }, 'events stopped');
    },
  };
}
