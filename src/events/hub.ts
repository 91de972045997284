// The IoT Hub connection: which client (device connection string, DPS, IoT Edge module),
// connecting with capped exponential backoff and jitter, and on every (re)connect a fresh
// client with the twin, direct methods and C2D wired again. The SDK's own retries are off
// (NoRetry): this module decides when to try again, and the outbox keeps what is unsent.
import deviceSdk from 'azure-iot-device';
import type { Client as DeviceClient, DeviceMethodRequest, DeviceMethodResponse, Message as SdkMessage, ModuleClient, Twin } from 'azure-iot-device';
import mqttSdk from 'azure-iot-device-mqtt';
import amqpSdk from 'azure-iot-device-amqp';
import commonSdk from 'azure-iot-common';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningMqttSdk from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySdk from 'azure-iot-security-symmetric-key';
import { backoffDelay, type BackoffPolicy } from '../common/backoff.js';
import type { EventsConfig } from '../config/schema.js';
import { errorMessage } from '../common/errors.js';
import { redactText, type Logger } from '../common/log.js';
import { CONTENT_ENCODING, CONTENT_TYPE, type OutgoingEvent } from './message.js';
import type { EventTarget } from './sender.js';

export type HubMode = 'device' | 'dps' | 'module';
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

/** The environment IoT Edge gives a module (IOTEDGE_*), or the SDK's simulator variables. */
export function isIotEdgeEnvironment(env: NodeJS.ProcessEnv): boolean {
  return Boolean((env.IOTEDGE_WORKLOADURI && env.IOTEDGE_MODULEID) || env.EdgeHubConnectionString);
}

/** Which way in: an explicit connection string wins, then IoT Edge, then DPS; none → the local sink. */
export function selectHubMode(config: Pick<EventsConfig, 'connectionString' | 'dps'>, env: NodeJS.ProcessEnv): HubMode | 'local' {
  if (config.connectionString) return 'device';
  if (isIotEdgeEnvironment(env)) return 'module';
  if (config.dps) return 'dps';
  return 'local';
}

export interface MethodResult {
  status: number;
  payload: unknown;
}

export interface C2dResult {
  ok: boolean;
  reason?: string;
}

export interface HubHandlers {
  /** The whole desired document (patches merged by the SDK), after every change and on every connect. */
  onDesired(desired: Record<string, unknown>): void;
  methods: Record<string, (payload: unknown) => Promise<MethodResult>>;
  onC2d(message: { messageId?: string; data: Buffer }): Promise<C2dResult>;
  /** Called once connected (push the full reported state here). */
  onConnected(): void;
}

export interface HubDeps {
  mode: HubMode;
  config: EventsConfig;
  /** PEM of an extra CA to trust (events.caFile). */
  ca?: string;
  handlers: HubHandlers;
  backoff: BackoffPolicy;
  log: Logger;
  random?: () => number;
}

export interface HubStatus {
  mode: HubMode;
  state: ConnectionState;
  /** Redacted: never holds a key or token. */
  lastError?: string;
  lastErrorAt?: number;
  connectedAt?: number;
  consecutiveFailures: number;
}

export interface HubConnection extends EventTarget {
  /** Drops the current connection (it is stalled) and connects again, with the backoff of a lost connection. */
  reconnect(reason: string): void;
  start(): void;
  stop(): Promise<void>;
  status(): HubStatus;
  /** Patches reported properties; false when not connected (the full state is pushed on connect). */
  updateReported(patch: Record<string, unknown>): Promise<boolean>;
  /** Sends a message that is not in the outbox (health); rejects when not connected. */
  sendVolatile(event: OutgoingEvent): Promise<void>;
}

type AnyClient = DeviceClient | ModuleClient;

function transportFor(transport: EventsConfig['transport']) {
  if (transport === 'mqtt-ws') return mqttSdk.MqttWs;
  if (transport === 'amqp') return amqpSdk.Amqp;
  return mqttSdk.Mqtt;
}

function toSdkMessage(event: OutgoingEvent): SdkMessage {
  const message = new deviceSdk.Message(event.body);
  message.messageId = event.messageId;
  message.contentType = CONTENT_TYPE;
  message.contentEncoding = CONTENT_ENCODING;
  for (const [key, value] of Object.entries(event.properties)) message.properties.add(key, value);
  return message;
}

/** The SDK wraps every failed first connect as "(Not authorized)", whatever the cause (TLS, refused port, DNS). */
const SDK_CONNECT_WRAPPER = /^(?:mqtt\.js returned )?Failure on first connection \(Not authorized\): ([\s\S]*?)(?: error)?$/;

/** The text of one error-ish value the SDK hands out: an Error, a Disconnected result ({ reason, transportObj }), or anything. */
function ownText(e: unknown): string | undefined {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'object' && e !== null) {
    const reason = (e as { reason?: unknown }).reason;
    return typeof reason === 'string' && reason !== '' ? reason : undefined;
  }
  return e === undefined ? undefined : String(e);
}

/**
 * A message safe for logs and health (SAS signatures and keys removed, bounded) that names the
 * underlying cause: the SDK's transportError / transportObj / cause chain, with its "(Not
 * authorized)" wrapper taken off unless the hub really refused the credentials.
 */
export function describe(err: unknown): string {
  const texts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const text = ownText(e);
    if (text !== undefined) texts.push(text);
    const next = typeof e === 'object' ? ((e as { transportError?: unknown }).transportError ?? (e as { transportObj?: unknown }).transportObj ?? (e as { cause?: unknown }).cause) : undefined;
    e = next;
  }
  // The innermost text is the most specific; unwrap the SDK's connect wrapper from it.
  let cause = texts.at(-1);
  const wrapped = cause === undefined ? undefined : SDK_CONNECT_WRAPPER.exec(cause);
  if (wrapped) cause = wrapped[1]!.trim();
  const text =
    cause === undefined
      ? 'the connection closed without a reason from the transport'
      : /^Connection refused: Not authorized$/i.test(cause)
        ? 'the hub refused the credentials (MQTT: Connection refused: Not authorized)'
        : cause;
  return redactText(text).slice(0, 500);
}

export function createHubConnection(deps: HubDeps): HubConnection {
  const { config, handlers, log } = deps;
  const random = deps.random ?? Math.random;
  const readyListeners = new Set<() => void>();
  let state: ConnectionState = 'disconnected';
  let running = false;
  let client: AnyClient | undefined;
  let twin: Twin | undefined;
  let lastError: string | undefined;
  let lastErrorAt: number | undefined;
  let connectedAt: number | undefined;
  let failures = 0;
  let loop: Promise<void> | undefined;
  let interrupt: (() => void) | undefined;
  /** Ends the current connection as lost (set while connected). */
  let dropConnection: ((reason: unknown) => void) | undefined;
  let dpsConnectionString: string | undefined;

  function setState(next: ConnectionState): void {
    if (next === state) return;
    state = next;
    for (const listener of readyListeners) listener();
  }

  async function provision(): Promise<string> {
    if (dpsConnectionString) return dpsConnectionString;
    const dps = config.dps!;
    const security = new symmetricKeySdk.SymmetricKeySecurityClient(dps.registrationId, dps.symmetricKey);
    const provisioning = provisioningSdk.ProvisioningDeviceClient.create(dps.globalEndpoint, dps.idScope, new provisioningMqttSdk.Mqtt(), security as never);
    const result = (await provisioning.register())!;
    log.info({ assignedHub: result.assignedHub, deviceId: result.deviceId }, 'provisioned through DPS');
    dpsConnectionString = `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${dps.symmetricKey}`;
    return dpsConnectionString;
  }

  async function createClient(): Promise<AnyClient> {
    const Transport = transportFor(config.transport);
    if (deps.mode === 'module') return deviceSdk.ModuleClient.fromEnvironment(Transport);
    const connectionString = deps.mode === 'dps' ? await provision() : config.connectionString!;
    return deviceSdk.Client.fromConnectionString(connectionString, Transport);
  }

  function wireMethods(c: AnyClient): void {
    for (const [name, handler] of Object.entries(handlers.methods)) {
      const callback = (request: DeviceMethodRequest, response: DeviceMethodResponse): void => {
        void (async () => {
          let result: MethodResult;
          try {
            result = await handler(request.payload as unknown);
          } catch (err) {
            result = { status: 500, payload: { error: describe(err) } };
          }
          const level = result.status >= 500 ? 'error' : 'info';
          log[level]({ method: name, status: result.status }, 'direct method');
          response.send(result.status, result.payload as object, (err) => {
            if (err) log.warn({ err, method: name }, 'could not send the direct method response');
          });
        })();
      };
      if ('onDeviceMethod' in c) c.onDeviceMethod(name, callback);
      else c.onMethod(name, callback as (request?: DeviceMethodRequest, response?: DeviceMethodResponse) => void);
    }
  }

  function wireC2d(c: AnyClient): void {
    if (!('onDeviceMethod' in c)) return; // modules get input messages, not C2D
    const device = c;
    device.on('message', (message: SdkMessage) => {
      void (async () => {
        const data = Buffer.isBuffer(message.data) ? message.data : Buffer.from(String(message.data ?? ''));
        const result = await handlers.onC2d({ messageId: message.messageId as string | undefined, data }).catch((err: unknown) => ({ ok: false, reason: describe(err) }));
        try {
          if (result.ok) await device.complete(message);
          // MQTT cannot reject (the SDK acknowledges on receipt); AMQP can.
          else if (config.transport === 'amqp') await device.reject(message);
        } catch (err) {
          log.warn({ err }, 'could not settle the cloud-to-device message');
        }
      })();
    });
  }

  /** Connects a fresh client; resolves with a promise that settles when it disconnects. */
  async function connectOnce(): Promise<{ c: AnyClient; lost: Promise<unknown> }> {
    const c = await createClient();
    let lose!: (reason: unknown) => void;
    const lost = new Promise<unknown>((resolve) => (lose = resolve));
    c.on('error', (err: unknown) => lose(err));
    c.on('disconnect', (reason: unknown) => lose(reason ?? new Error('disconnected')));
    try {
      c.setRetryPolicy(new commonSdk.NoRetry());
      if (deps.ca) await c.setOptions({ ca: deps.ca });
      await c.open();
      wireMethods(c);
      wireC2d(c);
      const t = await c.getTwin();
      t.on('error', (err: unknown) => log.warn({ err }, 'twin error'));
      t.on('properties.desired', () => {
        try {
          handlers.onDesired(structuredClone(t.properties.desired as Record<string, unknown>));
        } catch (err) {
          log.error({ err }, 'desired properties handler failed');
        }
      });
      twin = t;
      return { c, lost };
    } catch (err) {
      await closeQuietly(c);
      throw err;
    }
  }

  async function closeQuietly(c: AnyClient | undefined): Promise<void> {
    if (!c) return;
    c.removeAllListeners('disconnect');
    c.removeAllListeners('message');
    c.on('error', () => {}); // late errors from a client being thrown away
    try {
      await Promise.race([c.close(), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      // It is gone either way.
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async function run(): Promise<void> {
    while (running) {
      setState('connecting');
      let lostReason: unknown;
      try {
        const { c, lost } = await connectOnce();
        if (!running) {
          await closeQuietly(c);
          break;
        }
        client = c;
        connectedAt = Date.now();
        if (failures > 0) log.info({ failures, previousError: lastError }, 'IoT Hub connection restored');
        else log.info({ mode: deps.mode, transport: config.transport }, 'connected to IoT Hub');
        // Health shows what is wrong now: the error of an outage that is over is in the log.
        lastError = undefined;
        lastErrorAt = undefined;
        failures = 0;
        setState('connected');
        try {
          handlers.onConnected();
        } catch (err) {
          log.error({ err }, 'on-connect handler failed');
        }
        lostReason = await Promise.race([lost, new Promise((r) => (interrupt = () => r(undefined))), new Promise((r) => (dropConnection = r))]);
        dropConnection = undefined;
        client = undefined;
        twin = undefined;
        await closeQuietly(c);
        if (!running) break;
        failures = 1;
        lastError = describe(lostReason);
        lastErrorAt = Date.now();
        log.warn({ detail: lastError }, 'IoT Hub connection lost; events stay in the outbox');
      } catch (err) {
        failures += 1;
        lastError = describe(err);
        lastErrorAt = Date.now();
        // The first failure in a row at error, the repeats quieter: an outage must not flood the log.
        log[failures === 1 ? 'error' : 'debug']({ mode: deps.mode, failures, detail: lastError }, 'cannot connect to IoT Hub; retrying');
      }
      setState('disconnected');
      if (running) await sleep(backoffDelay(failures, deps.backoff, random));
    }
    setState('stopped');
  }

  return {
    get ready() {
      return state === 'connected';
    },
    onReadyChange(listener) {
      readyListeners.add(listener);
      return () => readyListeners.delete(listener);
    },
    async send(event) {
      const c = client;
      if (!c || state !== 'connected') throw new Error('not connected to IoT Hub');
      const message = toSdkMessage(event);
      if (deps.mode === 'module') await (c as ModuleClient).sendOutputEvent(config.outputName, message);
      else await c.sendEvent(message);
    },
    async sendVolatile(event) {
      return this.send(event);
    },
    reconnect(reason) {
      if (!dropConnection) return;
      log.warn({ detail: reason }, 'dropping the IoT Hub connection to make a new one');
      dropConnection(new Error(reason));
    },
    start() {
      if (running) return;
      running = true;
      loop = run().catch((err: unknown) => log.error({ err }, 'IoT Hub connection loop stopped unexpectedly'));
    },
    async stop() {
      running = false;
      interrupt?.();
      await loop;
      const c = client;
      client = undefined;
      await closeQuietly(c);
      setState('stopped');
    },
    status() {
      const s: HubStatus = { mode: deps.mode, state, consecutiveFailures: failures };
      if (lastError !== undefined) s.lastError = lastError;
      if (lastErrorAt !== undefined) s.lastErrorAt = lastErrorAt;
      if (connectedAt !== undefined && state === 'connected') s.connectedAt = connectedAt;
      return s;
    },
    async updateReported(patch) {
      const t = twin;
      if (!t || state !== 'connected') return false;
      await new Promise<void>((resolve, reject) => {
        t.properties.reported.update(patch, (err?: Error) => (err ? reject(err) : resolve()));
      });
      return true;
    },
  };
}

export { errorMessage };
