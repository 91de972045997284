// OPC UA client link: the handshake written to tags on the PLC's own OPC UA server, and the
// PLC's Trigger, Ack and RecipeSelect tags subscribed to. Node ids come from
// `plc.opcuaClient.nodeId` with {station} and {tag} filled in; tag names and types are those
// of Visor's own server (docs/stations.md#opc-ua). The client reconnects by itself and
// writes the whole state again after each reconnection.
import {
  AttributeIds,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  type ClientSession,
  type DataValue,
  type WriteValueOptions,
} from 'node-opcua-client';
import { errorMessage } from '../common/errors.js';
import type { HandshakeState } from './handshake.js';
import { triggerFromLink, type StationLink, type StationLinkDeps } from './link.js';
import { OPCUA_STATUS_TAGS } from './opcua.js';
import { opcuaCertificateManager } from './opcua-pki.js';
import type { Station } from './station.js';

/** The node id of a station's tag on the PLC's server. */
export function plcNodeId(template: string, stationId: string, tag: string): string {
  return template.replaceAll('{station}', stationId).replaceAll('{tag}', tag);
}

export function createOpcuaClientLink(deps: StationLinkDeps): StationLink {
  const { config } = deps;
  const settings = config.plc.opcuaClient;
  const log = deps.log.child({ module: 'stations', link: 'opcua-client' });
  const own = config.stations.filter((s) => s.triggers.includes('opcua-client') || s.transports.includes('opcua-client'));
  const node = (stationId: string, tag: string) => plcNodeId(settings.nodeId, stationId, tag);
  let client: OPCUAClient | undefined;
  let session: ClientSession | undefined;
  let subscription: ClientSubscription | undefined;
  let lastError: string | undefined;
  let writes = 0;
  const off: Array<() => void> = [];

  function writesFor(station: Station, state: Readonly<HandshakeState>, fields?: ReadonlySet<keyof HandshakeState>): WriteValueOptions[] {
    const stationConfig = own.find((s) => s.id === station.id)!;
    if (!stationConfig.transports.includes('opcua-client')) return [];
    return Object.entries(OPCUA_STATUS_TAGS)
      .filter(([, [field]]) => !fields || fields.has(field))
      .map(([tag, [field, dataType]]) => ({ nodeId: node(station.id, tag), attributeId: AttributeIds.Value, value: { value: { dataType, value: state[field] } } }));
  }

  async function write(values: WriteValueOptions[]): Promise<void> {
    const s = session;
    if (!s || values.length === 0) return;
    try {
      const statuses = await s.write(values);
      const bad = statuses.map((status, i) => [status, values[i]!] as const).filter(([status]) => status.isNotGood());
      if (bad.length > 0) {
        lastError = `PLC refused writes: ${bad.map(([status, v]) => `${String(v.nodeId)} ${status.name}`).join(', ')}`;
        log.warn({ detail: lastError }, 'PLC refused handshake writes');
      } else writes += values.length;
    } catch (err) {
      lastError = errorMessage(err);
      log.warn({ detail: lastError }, 'writing the handshake to the PLC failed');
    }
  }

  const writeAll = () => write(own.flatMap((s) => writesFor(deps.stations.find((st) => st.id === s.id)!, deps.stations.find((st) => st.id === s.id)!.handshake.state)));

  async function monitor(sub: ClientSubscription, stationId: string, tag: string, onValue: (value: unknown) => void): Promise<void> {
    const item = await sub.monitor(
      { nodeId: node(stationId, tag), attributeId: AttributeIds.Value },
      { samplingInterval: settings.samplingIntervalMs, discardOldest: true, queueSize: 10 },
      TimestampsToReturn.Neither,
    );
    item.on('changed', (dataValue: DataValue) => onValue(dataValue.value.value));
    item.on('err', (message: string) => {
      lastError = `${node(stationId, tag)}: ${message}`;
      log.warn({ detail: lastError }, 'cannot monitor a PLC tag');
    });
  }

  async function openSession(c: OPCUAClient): Promise<void> {
    const identity = settings.username !== undefined ? { type: UserTokenType.UserName as const, userName: settings.username, password: settings.password ?? '' } : { type: UserTokenType.Anonymous as const };
    const s = await c.createSession(identity);
    session = s;
    const sub = ClientSubscription.create(s, { requestedPublishingInterval: settings.samplingIntervalMs, requestedMaxKeepAliveCount: 20, requestedLifetimeCount: 600, publishingEnabled: true });
    subscription = sub;
    for (const stationConfig of own) {
      const station = deps.stations.find((st) => st.id === stationConfig.id)!;
      if (stationConfig.triggers.includes('opcua-client')) {
        await monitor(sub, station.id, 'Trigger', (value) => {
          if (value !== true) return;
          void (async () => {
            const partId = String((await s.read({ nodeId: node(station.id, 'PartId'), attributeId: AttributeIds.Value })).value.value ?? '');
            await write([{ nodeId: node(station.id, 'Trigger'), attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Boolean, value: false } } }]);
            if (partId === '') return log.warn({ stationId: station.id }, 'PLC set Trigger without a PartId; refused');
            triggerFromLink(station, partId, 'opcua-client', log);
          })().catch((err: unknown) => log.warn({ detail: errorMessage(err), stationId: station.id }, 'taking a trigger from the PLC failed'));
        });
      }
      await monitor(sub, station.id, 'Ack', (value) => {
        if (value !== true) return;
        station.handshake.ack();
        void write([{ nodeId: node(station.id, 'Ack'), attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Boolean, value: false } } }]);
      });
      if (stationConfig.recipes.length > 0) {
        await monitor(sub, station.id, 'RecipeSelect', (value) => {
          const index = Number(value);
          if (Number.isInteger(index) && index !== deps.recipes.current(station.id)) deps.recipes.select(station.id, index, 'opcua-client').catch(() => {});
        });
      }
    }
    await writeAll();
  }

  return {
    name: 'opcua-client',
    get address() {
      return settings.endpoint;
    },
    async start() {
      const c = OPCUAClient.create({
        applicationName: 'Visor',
        clientCertificateManager: opcuaCertificateManager(deps.dataDir, 'client'),
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        keepSessionAlive: true,
        // Retry for ever, 0.5 s up to 10 s apart: a PLC that reboots comes back.
        connectionStrategy: { maxRetry: Number.MAX_SAFE_INTEGER, initialDelay: 500, maxDelay: 10_000 },
      });
      client = c;
      c.on('connection_lost', () => {
        lastError = 'connection to the PLC lost';
        log.warn('OPC UA connection to the PLC lost; reconnecting');
      });
      c.on('after_reconnection', () => {
        lastError = undefined;
        void writeAll();
      });
      for (const stationConfig of own) {
        const station = deps.stations.find((st) => st.id === stationConfig.id)!;
        off.push(station.handshake.subscribe((state, changed) => void write(writesFor(station, state, changed))));
      }
      // The first connection in the background: a PLC that is down at start must not hold up the line.
      const connected = c
        .connect(settings.endpoint!)
        .then(() => openSession(c))
        .then(() => log.info({ endpoint: settings.endpoint, stations: own.map((s) => s.id) }, 'OPC UA client connected to the PLC'))
        .catch((err: unknown) => {
          lastError = errorMessage(err);
          log.error({ detail: lastError }, 'OPC UA client could not connect to the PLC');
        });
      await Promise.race([connected, new Promise((r) => setTimeout(r, 5000).unref())]);
    },
    async stop() {
      for (const o of off.splice(0)) o();
      const c = client;
      client = undefined;
      await subscription?.terminate().catch(() => {});
      await session?.close().catch(() => {});
      session = undefined;
      await c?.disconnect();
    },
    health() {
      return { ok: session !== undefined && lastError === undefined, endpoint: settings.endpoint, writes, ...(lastError ? { lastError } : {}) };
    },
  };
}
