// IoT Hub events: durable outbox, device/DPS/IoT Edge module client (or a local JSON-lines
// sink when no hub is configured), module twin, direct methods, cloud-to-device commands,
// health messages. Built by the composition root as the `events` extension.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { resolvePath } from '../config/paths.js';
import type { AppContext, Extension } from '../line/extension.js';
import { errorMessage } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { CameraState } from '../common/types.js';
import { createHubConnection, selectHubMode, type HubConnection, type HubStatus } from './hub.js';
import { HEALTH_SCHEMA, routingProperties, type OutgoingEvent } from './message.js';
import { createMethodHandlers } from './methods.js';
import { fetchModelPackage, safeUrl, type ModelReference } from './model-update.js';
import { createOutbox, toOutgoing, type DropCounts } from './outbox.js';
import { createSender, type EventTarget } from './sender.js';
import { createLocalSink, type LocalSink } from './sink.js';
import { createTwinApplier, type ConfigReport } from './twin.js';

export { selectHubMode, isIotEdgeEnvironment } from './hub.js';
export { fetchModelPackage, ModelReference, ModelUpdateError } from './model-update.js';
export { TwinDesired, checkDesiredProperties } from './twin.js';
export type { InspectionEventBody } from './message.js';

export interface EventsExtension extends Extension {
  readonly mode: ReturnType<typeof selectHubMode>;
  /** Path of the local sink file (local mode only). */
  readonly sinkFile: string | undefined;
  status(): EventsStatus;
}

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

const PRUNE_INTERVAL_MS = 60_000;
const REPORT_DEBOUNCE_MS = 500;
const DROP_LOG_INTERVAL_MS = 10_000;

export function createEventsExtension(ctx: AppContext, options: EventsOptions = {}): EventsExtension | undefined {
  const config = ctx.config.events;
  const env = options.env ?? process.env;
  const log = ctx.log.child({ module: 'events' });
  const mode = selectHubMode(config, env);
  const dataDir = ctx.store.dataDir;
  const backoff = { initialMs: config.backoffInitialMs, maxMs: config.backoffMaxMs };
  let sendUncertain = config.sendUncertain;

  // Metrics.
  const registry = ctx.metrics.registry;
  const sentCounter = new Counter({ name: 'visor_events_sent_total', help: 'Events acknowledged by IoT Hub (or written to the local sink).', registers: [registry] });
  const dropCounter = new Counter({
    name: 'visor_events_dropped_total',
    help: 'Undelivered events dropped by the outbox bounds (overflow: outboxMaxMessages; age: outboxMaxAgeHours).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const failCounter = new Counter({ name: 'visor_events_send_failures_total', help: 'Event sends that were not acknowledged (they are retried).', registers: [registry] });

  // Outbox, fed in the inspection's own transaction.
  let droppedSinceLog = 0;
  let lastDropLog = Number.NEGATIVE_INFINITY;
  const outbox = createOutbox({
    db: ctx.store.db,
    maxMessages: config.outboxMaxMessages,
    maxAgeMs: config.outboxMaxAgeHours * 3600_000,
    sendUncertain: () => sendUncertain,
    onDrop(reason, count) {
      dropCounter.inc({ reason }, count);
      droppedSinceLog += count;
      const t = Date.now();
      if (t - lastDropLog >= DROP_LOG_INTERVAL_MS) {
        log.warn({ reason, dropped: droppedSinceLog, totals: outbox.dropped() }, 'undelivered events dropped by the outbox bounds');
        droppedSinceLog = 0;
        lastDropLog = t;
      }
      reportSoon();
    },
  });
  new Gauge({
    name: 'visor_events_outbox_depth',
    help: 'Events waiting in the outbox.',
    registers: [registry],
    collect() {
      this.set(outbox.depth());
    },
  });
  const removeHook = ctx.store.onSave((inspection) => outbox.enqueue(inspection));
  // Counters of earlier runs, so the metric matches the reported totals.
  const initialDrops = outbox.dropped();
  for (const reason of ['overflow', 'age'] as const) if (initialDrops[reason] > 0) dropCounter.inc({ reason }, initialDrops[reason]);

  // Status shared by getStatus, the health message, reported properties and /healthz.
  let sink: LocalSink | undefined;
  let hub: HubConnection | undefined;
  function status(): EventsStatus {
    const m = ctx.control.inferencer.manifest;
    const oldest = outbox.oldestCreatedAt();
    return {
      software: { version: VERSION },
      connection: hub ? hub.status() : { mode: 'local', state: 'connected', sink: sink!.file },
      model: { name: m.name, version: m.version, task: m.task, sha256: m.sha256 },
      cameras: ctx.cameras.map((c) => {
        const s = c.status();
        return { id: c.id, state: s.state, framesIn: s.framesIn, framesDropped: s.framesDropped, thresholds: ctx.control.thresholds(c.id) };
      }),
      outbox: { depth: outbox.depth(), oldestAgeSeconds: oldest === undefined ? null : Math.round((Date.now() - oldest) / 1000), dropped: outbox.dropped() },
      eventsSent: sender.sent,
      inspected: ctx.pipeline.inspected,
    };
  }

  // Model updates from the twin or reloadModel: one at a time, the last reference wins.
  let modelUpdate: { sha256: string; url: string; status: 'downloading' | 'applied' | 'rejected'; error?: string; at: string } | undefined;
  let modelChain: Promise<unknown> = Promise.resolve();
  async function applyModel(ref: ModelReference | undefined, source: string): Promise<{ name: string; version: string }> {
    const run = async () => {
      if (ref) modelUpdate = { sha256: ref.sha256, url: safeUrl(ref.url), status: 'downloading', at: new Date().toISOString() };
      reportSoon();
      try {
        const dir = ref ? await fetchModelPackage(ref, { dataDir, log }) : ctx.control.modelDir;
        const manifest = await ctx.control.swapModel(dir);
        if (ref) modelUpdate = { ...modelUpdate!, status: 'applied', at: new Date().toISOString() };
        log.info({ source, model: manifest.name, version: manifest.version }, 'model updated');
        return { name: manifest.name, version: manifest.version };
      } catch (err) {
        if (ref) modelUpdate = { ...modelUpdate!, status: 'rejected', error: errorMessage(err), at: new Date().toISOString() };
        log.error({ err, source }, 'model update refused; the running model stays');
        throw err;
      } finally {
        reportSoon();
      }
    };
    const result = modelChain.then(run, run);
    modelChain = result.catch(() => undefined);
    return result;
  }

  const methods = createMethodHandlers({
    control: ctx.control,
    pipeline: ctx.pipeline,
    cameraIds: ctx.cameras.map((c) => c.id),
    status,
    reloadModel: (ref) => applyModel(ref, 'method'),
  });

  let configReport: ConfigReport | undefined;
  let lastC2dRejected: { messageId: string | null; reason: string; at: string } | undefined;
  const twin = createTwinApplier({
    control: ctx.control,
    cameraIds: ctx.cameras.map((c) => c.id),
    bus: ctx.bus,
    log,
    setSendUncertain(value) {
      sendUncertain = value;
    },
    updateModel(ref, source) {
      // The same reference applied (or under way) is not fetched again on every patch or reconnect.
      if (modelUpdate && modelUpdate.sha256 === ref.sha256 && modelUpdate.status !== 'rejected') return;
      if (modelUpdate && modelUpdate.sha256 === ref.sha256 && modelUpdate.url === safeUrl(ref.url)) return;
      applyModel(ref, source).catch(() => undefined);
    },
  });

  function reportedState(): Record<string, unknown> {
    const s = status();
    const cameras: Record<string, unknown> = {};
    for (const c of s.cameras) cameras[c.id] = { state: c.state, thresholds: c.thresholds };
    return {
      software: { version: VERSION },
      config: configReport ?? null,
      model: s.model,
      modelUpdate: modelUpdate ?? null,
      cameras,
      outbox: { depth: s.outbox.depth, droppedOverflow: s.outbox.dropped.overflow, droppedAge: s.outbox.dropped.age },
      events: { sendUncertain },
      c2d: { lastRejected: lastC2dRejected ?? null },
    };
  }

  let reportTimer: NodeJS.Timeout | undefined;
  function reportSoon(): void {
    if (!hub || reportTimer) return;
    reportTimer = setTimeout(() => {
      reportTimer = undefined;
      hub?.updateReported(reportedState()).catch((err: unknown) => log.warn({ err }, 'could not update reported properties'));
    }, REPORT_DEBOUNCE_MS);
    reportTimer.unref();
  }

  async function onC2d(message: { messageId?: string; data: Buffer }): Promise<{ ok: boolean; reason?: string }> {
    let reason: string | undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.data.toString('utf8'));
    } catch {
      reason = 'body is not JSON';
    }
    if (reason === undefined) {
      const command = parsed as { method?: unknown; payload?: unknown };
      const handler = typeof command?.method === 'string' ? methods[command.method] : undefined;
      if (!handler) reason = `unknown command; send {"method": one of ${Object.keys(methods).join(', ')}, "payload": {…}}`;
      else {
        const result = await handler(command.payload);
        if (result.status >= 400) reason = `${command.method}: ${(result.payload as { error?: string }).error ?? `status ${result.status}`}`;
        else log.info({ messageId: message.messageId, method: command.method }, 'cloud-to-device command done');
      }
    }
    if (reason !== undefined) {
      lastC2dRejected = { messageId: message.messageId ?? null, reason, at: new Date().toISOString() };
      log.warn({ messageId: message.messageId, reason }, 'cloud-to-device message rejected');
      reportSoon();
      return { ok: false, reason };
    }
    return { ok: true };
  }

  let target: EventTarget;
  if (mode === 'local') {
    sink = createLocalSink(path.resolve(dataDir, config.localSink));
    target = sink;
  } else {
    let ca: string | undefined;
    if (config.caFile) ca = readFileSync(resolvePath(ctx.baseDir, config.caFile), 'utf8');
    hub = createHubConnection({
      mode,
      config,
      ca,
      backoff,
      log,
      random: options.random,
      handlers: {
        onDesired(desired) {
          configReport = twin.apply(desired);
          reportSoon();
        },
        methods,
        onC2d,
        onConnected() {
          reportSoon();
        },
      },
    });
    target = hub;
  }

  const sender = createSender({
    outbox,
    target,
    toEvent: (row) => toOutgoing(row, (JSON.parse(row.body) as { model: { version: string } }).model.version),
    maxInFlight: config.maxInFlight,
    backoff,
    log,
    random: options.random,
    onSent: (n) => sentCounter.inc(n),
    onSendError: () => failCounter.inc(),
  });

  ctx.health.add('events', () => {
    const s = hub?.status();
    return {
      ok: s ? s.state === 'connected' : true,
      mode,
      connection: s?.state ?? 'local',
      ...(s?.lastError !== undefined ? { lastError: s.lastError } : {}),
      outboxDepth: outbox.depth(),
      dropped: outbox.dropped(),
      sent: sender.sent,
    };
  });

  // Health messages: fps since the previous one, drops, queue depth, camera states.
  let lastFrames = new Map<string, { framesIn: number; at: number }>();
  function healthEvent(): OutgoingEvent {
    const s = status();
    const at = Date.now();
    const cameras = ctx.cameras.map((c) => {
      const st = c.status();
      const prev = lastFrames.get(c.id);
      const fps = prev && at > prev.at ? ((st.framesIn - prev.framesIn) * 1000) / (at - prev.at) : null;
      return { id: c.id, state: st.state, fps, framesIn: st.framesIn, framesDropped: st.framesDropped, framesCorrupt: st.framesCorrupt, reconnects: st.reconnects };
    });
    lastFrames = new Map(ctx.cameras.map((c) => [c.id, { framesIn: c.status().framesIn, at }]));
    const body = { schema: HEALTH_SCHEMA, eventType: 'health', at: new Date(at).toISOString(), software: s.software, model: s.model, cameras, outbox: s.outbox, eventsSent: s.eventsSent, inspected: s.inspected };
    return { messageId: `health-${at}`, body: JSON.stringify(body), properties: routingProperties('health', undefined, s.model.version) };
  }
  function sendHealth(): void {
    const event = healthEvent();
    // Health is current state, not history: not kept in the outbox, skipped while offline.
    if (!target.ready) return;
    target.send(event).catch((err: unknown) => log.debug({ err }, 'health message not sent'));
    if (hub) reportSoon();
  }

  const timers: NodeJS.Timeout[] = [];
  const unsubscribers: Array<() => void> = [];

  return {
    name: 'events',
    mode,
    get sinkFile() {
      return sink?.file;
    },
    status,
    async start() {
      try {
        outbox.prune();
      } catch (err) {
        log.error({ err }, 'outbox prune failed');
      }
      unsubscribers.push(ctx.bus.on('inspection', () => sender.notify()));
      let lastStates = new Map(ctx.cameras.map((c) => [c.id, c.status().state]));
      unsubscribers.push(
        ctx.bus.on('cameraStatus', (s) => {
          if (lastStates.get(s.cameraId) !== s.state) {
            lastStates = new Map(lastStates).set(s.cameraId, s.state);
            reportSoon();
          }
        }),
        ctx.bus.on('model', () => reportSoon()),
        ctx.bus.on('thresholds', () => reportSoon()),
      );
      timers.push(
        setInterval(() => {
          try {
            outbox.prune();
          } catch (err) {
            log.error({ err }, 'outbox prune failed');
          }
        }, PRUNE_INTERVAL_MS),
        setInterval(sendHealth, config.healthIntervalSeconds * 1000),
      );
      for (const t of timers) t.unref();
      lastFrames = new Map(ctx.cameras.map((c) => [c.id, { framesIn: c.status().framesIn, at: Date.now() }]));
      hub?.start();
      sender.start();
      log.info({ mode, pending: outbox.depth(), ...(sink ? { sink: sink.file } : {}) }, 'events started');
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      if (reportTimer) clearTimeout(reportTimer);
      for (const off of unsubscribers.splice(0)) off();
      // Give sends in flight a moment to be acknowledged, then cut the connection.
      const senderStopped = sender.stop();
      await Promise.race([senderStopped, new Promise((r) => setTimeout(r, 3000))]);
      await hub?.stop();
      await senderStopped;
      await modelChain;
      removeHook();
      sink?.close();
      log.info({ pending: outbox.depth(), sent: sender.sent }, 'events stopped');
    },
  };
}
