// A test IoT hub on loopback: an aedes MQTT broker behind node TLS (certificate made at
// test time) that speaks IoT Hub's device topics (telemetry, twin, direct methods, C2D)
// and checks the SAS token's HMAC-SHA256 against the device (or module) key. Optionally
// an IoT Edge workload API (trust bundle + signing) for ModuleClient.fromEnvironment.
// Reusable by other modules' tests: startFakeHub({ devices: { id: key } }).
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client as AedesClient, type PublishPacket } from 'aedes';
import { generate } from 'selfsigned';

export interface ReceivedMessage {
  deviceId: string;
  moduleId?: string;
  topic: string;
  messageId?: string;
  contentType?: string;
  contentEncoding?: string;
  /** `$.on` for module output events. */
  outputName?: string;
  /** Application properties. */
  properties: Record<string, string>;
  body: Buffer;
  receivedAt: number;
}

export interface ConnectAttempt {
  clientId: string;
  ok: boolean;
  reason?: string;
  /** The password (SAS token) as presented, so tests can look for it in logs. */
  token: string;
}

export interface FakeHubOptions {
  /** IoT Hub host name in connection strings and tokens. */
  hostName?: string;
  /** deviceId → base64 key; module identities as "deviceId/moduleId". */
  identities: Record<string, string>;
  /** Also serve an IoT Edge workload API (for ModuleClient.fromEnvironment). */
  workload?: boolean;
}

export interface FakeHub {
  readonly port: number;
  readonly hostName: string;
  /** PEM of the hub's (self-signed) certificate: pass it to the SDK as CA. */
  readonly ca: string;
  readonly telemetry: ReceivedMessage[];
  readonly connects: ConnectAttempt[];
  /** Workload API base URL (when `workload`). */
  readonly workloadUri: string | undefined;
  connectionString(deviceId: string, key?: string): string;
  /** Environment that IoT Edge gives a module, pointing at this hub as edgeHub. */
  edgeEnv(deviceId: string, moduleId: string): Record<string, string>;
  /** Merges a desired patch (null deletes), bumps $version and pushes it to a connected client. */
  patchDesired(identity: string, patch: Record<string, unknown>): number;
  desired(identity: string): Record<string, unknown>;
  reported(identity: string): Record<string, any>;
  invokeMethod(identity: string, name: string, payload: unknown, timeoutMs?: number): Promise<{ status: number; payload: any }>;
  sendC2d(deviceId: string, body: string, properties?: Record<string, string>): void;
  isConnected(identity: string): boolean;
  /** Stops accepting connections and drops every connection (an outage); twin state stays. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

interface TwinState {
  desired: Record<string, unknown>;
  reported: Record<string, unknown>;
}

function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else if (typeof value === 'object' && !Array.isArray(value)) {
      const current = target[key];
      const next = current && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
      mergePatch(next, value as Record<string, unknown>);
      target[key] = next;
    } else target[key] = value;
  }
}

function parseQuery(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const key = decodeURIComponent(i < 0 ? part : part.slice(0, i));
    out[key] = decodeURIComponent(i < 0 ? '' : part.slice(i + 1).replace(/\+/g, ' '));
  }
  return out;
}

/** Checks a SharedAccessSignature token for a resource against a base64 key. */
export function verifySas(token: string, resource: string, key: string, now = Date.now()): string | undefined {
  if (!token.startsWith('SharedAccessSignature ')) return 'not a SharedAccessSignature';
  const fields = Object.fromEntries(token.slice('SharedAccessSignature '.length).split('&').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const { sr, sig, se } = fields as Record<string, string | undefined>;
  if (!sr || !sig || !se) return 'token lacks sr, sig or se';
  if (decodeURIComponent(sr) !== resource) return `token is for ${decodeURIComponent(sr)}, not ${resource}`;
  if (Number(se) * 1000 < now) return 'token expired';
  const expected = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  if (decodeURIComponent(sig) !== expected) return 'signature does not match the key';
  return undefined;
}

export function newKey(): string {
  return randomBytes(32).toString('base64');
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const hostName = options.hostName ?? 'visor-test-hub.azure-devices.net';
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const telemetry: ReceivedMessage[] = [];
  const connects: ConnectAttempt[] = [];
  const twins = new Map<string, TwinState>();
  const clients = new Map<string, AedesClient>();
  const pendingMethods = new Map<string, (r: { status: number; payload: any }) => void>();
  const twinOf = (id: string): TwinState => {
    let t = twins.get(id);
    if (!t) twins.set(id, (t = { desired: { $version: 1 }, reported: { $version: 1 } }));
    return t;
  };

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const token = password ? password.toString() : '';
      const fail = (reason: string) => {
        connects.push({ clientId: client.id, ok: false, reason, token });
        const err = Object.assign(new Error(reason), { returnCode: 5 });
        done(err as never, false);
      };
      // username: {host}/{deviceId}[/{moduleId}]/?api-version=…
      const [user = ''] = (username ?? '').split('/?');
      const parts = user.split('/');
      const host = parts[0];
      const identity = parts.slice(1).join('/');
      if (host !== hostName) return fail(`unknown host ${host}`);
      if (identity !== client.id) return fail('username does not match the client id');
      const key = options.identities[identity];
      if (!key) return fail(`unknown identity ${identity}`);
      const [deviceId, moduleId] = identity.split('/');
      const resource = `${hostName}/devices/${deviceId}${moduleId ? `/modules/${moduleId}` : ''}`;
      const problem = verifySas(token, resource, key);
      if (problem) return fail(problem);
      connects.push({ clientId: client.id, ok: true, token });
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      try {
        handleDevicePublish(client, packet);
        done(null);
      } catch (err) {
        done(err as Error);
      }
    },
  });
  broker.on('clientReady', (client) => clients.set(client.id, client));
  broker.on('clientDisconnect', (client) => {
    if (clients.get(client.id) === client) clients.delete(client.id);
  });

  function sendTo(identity: string, topic: string, payload: string | Buffer, qos: 0 | 1 = 0): void {
    const client = clients.get(identity);
    if (!client) throw new Error(`${identity} is not connected`);
    client.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false } as PublishPacket, () => {});
  }

  function handleDevicePublish(client: AedesClient, packet: PublishPacket): void {
    const topic = packet.topic;
    const identity = client.id;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let m = /^devices\/([^/]+)(?:\/modules\/([^/]+))?\/messages\/events\/(.*)$/.exec(topic);
    if (m) {
      const props = parseQuery(m[3]!.replace(/\/$/, ''));
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(props)) if (!k.startsWith('$.')) properties[k] = v;
      telemetry.push({
        deviceId: m[1]!,
        moduleId: m[2],
        topic,
        messageId: props['$.mid'],
        contentType: props['$.ct'],
        contentEncoding: props['$.ce'],
        outputName: props['$.on'],
        properties,
        body: payload,
        receivedAt: Date.now(),
      });
      return;
    }
    m = /^\$iothub\/twin\/GET\/\?\$rid=(.+)$/.exec(topic);
    if (m) {
      const t = twinOf(identity);
      const rid = m[1]!;
      setImmediate(() => sendTo(identity, `$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify({ desired: t.desired, reported: t.reported })));
      return;
    }
    m = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?\$rid=([^&]+)/.exec(topic);
    if (m) {
      const t = twinOf(identity);
      mergePatch(t.reported, JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      t.reported.$version = (t.reported.$version as number) + 1;
      const rid = m[1]!;
      setImmediate(() => sendTo(identity, `$iothub/twin/res/204/?$rid=${rid}&$version=${t.reported.$version as number}`, ''));
      return;
    }
    m = /^\$iothub\/methods\/res\/(\d+)\/\?\$rid=([^&]+)/.exec(topic);
    if (m) {
      const resolve = pendingMethods.get(m[2]!);
      pendingMethods.delete(m[2]!);
      const text = payload.toString('utf8');
      resolve?.({ status: Number(m[1]), payload: text ? (JSON.parse(text) as unknown) : undefined });
    }
  }

  const sockets = new Set<Socket>();
  const server = tls.createServer({ key: pems.private, cert: pems.cert }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  let workload: http.Server | undefined;
  let workloadUri: string | undefined;
  if (options.workload) {
    workload = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/trust-bundle') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ certificate: pems.cert }));
        return;
      }
      const m = /^\/modules\/([^/]+)\/genid\/[^/]+\/sign$/.exec(url.pathname);
      if (req.method === 'POST' && m) {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const { data } = JSON.parse(body) as { data: string };
          const identity = Object.keys(options.identities).find((id) => id.endsWith(`/${decodeURIComponent(m[1]!)}`));
          if (!identity) {
            res.statusCode = 404;
            res.end('{}');
            return;
          }
          const digest = createHmac('sha256', Buffer.from(options.identities[identity]!, 'base64')).update(Buffer.from(data, 'base64')).digest('base64');
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ digest }));
        });
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => workload!.listen(0, '127.0.0.1', resolve));
    workloadUri = `http://127.0.0.1:${(workload.address() as AddressInfo).port}/`;
  }

  return {
    port,
    hostName,
    ca: pems.cert,
    telemetry,
    connects,
    workloadUri,
    connectionString(deviceId, key) {
      return `HostName=${hostName};DeviceId=${deviceId};SharedAccessKey=${key ?? options.identities[deviceId]};GatewayHostName=127.0.0.1:${port}`;
    },
    edgeEnv(deviceId, moduleId) {
      if (!workloadUri) throw new Error('start the fake hub with workload: true');
      return {
        IOTEDGE_WORKLOADURI: workloadUri,
        IOTEDGE_DEVICEID: deviceId,
        IOTEDGE_MODULEID: moduleId,
        IOTEDGE_IOTHUBHOSTNAME: hostName,
        IOTEDGE_AUTHSCHEME: 'sasToken',
        IOTEDGE_MODULEGENERATIONID: 'gen1',
        IOTEDGE_GATEWAYHOSTNAME: `127.0.0.1:${port}`,
      };
    },
    patchDesired(identity, patch) {
      const t = twinOf(identity);
      mergePatch(t.desired, patch);
      const version = (t.desired.$version as number) + 1;
      t.desired.$version = version;
      if (clients.has(identity)) sendTo(identity, `$iothub/twin/PATCH/properties/desired/?$version=${version}`, JSON.stringify({ ...patch, $version: version }));
      return version;
    },
    desired: (identity) => twinOf(identity).desired,
    reported: (identity) => twinOf(identity).reported as Record<string, any>,
    invokeMethod(identity, name, payload, timeoutMs = 15_000) {
      const rid = randomBytes(4).toString('hex');
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingMethods.delete(rid);
          reject(new Error(`method ${name} timed out`));
        }, timeoutMs);
        pendingMethods.set(rid, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        sendTo(identity, `$iothub/methods/POST/${name}/?$rid=${rid}`, JSON.stringify(payload ?? null));
      });
    },
    sendC2d(deviceId, body, properties = {}) {
      const props = new URLSearchParams({ '$.mid': randomBytes(4).toString('hex'), ...properties }).toString();
      sendTo(deviceId, `devices/${deviceId}/messages/devicebound/${props}`, body, 1);
    },
    isConnected: (identity) => clients.has(identity),
    async pause() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async resume() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      if (workload) await new Promise<void>((resolve) => workload!.close(() => resolve()));
    },
  };
}
