// Visor's OPC UA server: per station an object Objects/Visor/Stations/<id> whose variables
// are the handshake (node ids ns=1;s=Visor.Stations.<id>.<Tag>, docs/stations.md#opc-ua).
// The PLC (an OPC UA client) writes PartId, then Trigger = true; Visor takes the trigger and
// writes Trigger back to false. Ack = true clears ResultReady the same way.
import { hostname } from 'node:os';
import { OPCUAServer } from 'node-opcua-server';
import { DataType, MessageSecurityMode, SecurityPolicy, StatusCodes, Variant } from 'node-opcua-client';
import { errorMessage } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { HandshakeState } from './handshake.js';
import { opcuaCertificateManager } from './opcua-pki.js';
import { triggerFromLink, type StationLink, type StationLinkDeps } from './link.js';
import type { Station } from './station.js';

/**
 * Status tags Visor writes: name → handshake field and OPC UA type. In the order they are
 * written: the values before the flags, ResultReady last, so a PLC that sees ResultReady
 * finds the result code and part id already there.
 */
export const OPCUA_STATUS_TAGS = {
  ResultCode: ['resultCode', DataType.Int32],
  ResultPartId: ['partId', DataType.String],
  Heartbeat: ['heartbeat', DataType.UInt16],
  Recipe: ['recipe', DataType.Int32],
  Ok: ['ok', DataType.Boolean],
  Ng: ['ng', DataType.Boolean],
  Error: ['error', DataType.Boolean],
  Busy: ['busy', DataType.Boolean],
  Ready: ['ready', DataType.Boolean],
  ResultReady: ['resultReady', DataType.Boolean],
} as const satisfies Record<string, readonly [keyof HandshakeState, DataType]>;

/** Tags the PLC writes are read back through a getter; a subscription to them is sampled this often. */
const PLC_WRITTEN_SAMPLING_MS = 100;

/** The node id of a station's tag. */
export function opcuaNodeId(stationId: string, tag: string): string {
  return `ns=1;s=Visor.Stations.${stationId}.${tag}`;
}

/**
 * Per camera of a station, its last view (the inspection it gave the last part): tag → OPC UA
 * type. Written in this order, Verdict last, so a client that sees the verdict change finds
 * the rest of the view in place.
 */
export const OPCUA_CAMERA_TAGS = {
  PartId: DataType.String,
  Score: DataType.Double,
  CapturedAt: DataType.DateTime,
  Verdict: DataType.String,
} as const;

/** The node id of a camera's tag under its station. */
export function opcuaCameraNodeId(stationId: string, cameraId: string, tag: keyof typeof OPCUA_CAMERA_TAGS): string {
  return `ns=1;s=Visor.Stations.${stationId}.Cameras.${cameraId}.${tag}`;
}

type Namespace = ReturnType<NonNullable<OPCUAServer['engine']['addressSpace']>['getOwnNamespace']>;
type UAVariable = ReturnType<Namespace['addVariable']>;
type UAObject = ReturnType<Namespace['addObject']>;

export function createOpcuaLink(deps: StationLinkDeps): StationLink {
  const { config } = deps;
  const log = deps.log.child({ module: 'stations', link: 'opcua' });
  const own = config.stations.filter((s) => s.triggers.includes('opcua') || s.transports.includes('opcua'));
  let server: OPCUAServer | undefined;
  let address: string | undefined;
  let lastError: string | undefined;
  const off: Array<() => void> = [];

  function build(s: OPCUAServer): void {
    const addressSpace = s.engine.addressSpace!;
    const namespace = addressSpace.getOwnNamespace();
    const visor = namespace.addFolder(addressSpace.rootFolder.objects, { browseName: 'Visor', nodeId: 's=Visor' });
    const folder = namespace.addFolder(visor, { browseName: 'Stations', nodeId: 's=Visor.Stations' });
    for (const stationConfig of own) {
      const station = deps.stations.find((st) => st.id === stationConfig.id)!;
      const id = station.id;
      const object = namespace.addObject({ organizedBy: folder, browseName: id, nodeId: `s=Visor.Stations.${id}` });
      const tag = (name: string) => `s=Visor.Stations.${id}.${name}`;
      const status = new Map<keyof typeof OPCUA_STATUS_TAGS, UAVariable>();
      for (const [name, [field, dataType]] of Object.entries(OPCUA_STATUS_TAGS) as Array<[keyof typeof OPCUA_STATUS_TAGS, readonly [keyof HandshakeState, DataType]]>) {
        const variable = namespace.addVariable({
          componentOf: object,
          browseName: name,
          nodeId: tag(name),
          dataType: DataType[dataType],
          accessLevel: 'CurrentRead',
          userAccessLevel: 'CurrentRead',
        });
        variable.setValueFromSource(new Variant({ dataType, value: station.handshake.state[field] }));
        status.set(name, variable);
      }
      let partId = '';
      const triggers = stationConfig.triggers.includes('opcua');
      namespace.addVariable({
        componentOf: object,
        browseName: 'PartId',
        nodeId: tag('PartId'),
        dataType: 'String',
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
        minimumSamplingInterval: PLC_WRITTEN_SAMPLING_MS,
        value: {
          get: () => new Variant({ dataType: DataType.String, value: partId }),
          set: (v: Variant) => {
            partId = String(v.value ?? '');
            return StatusCodes.Good;
          },
        },
      });
      // Edges, not levels: writing true does the thing, and the tag reads false again.
      const edge = (name: string, act: () => void) =>
        namespace.addVariable({
          componentOf: object,
          browseName: name,
          nodeId: tag(name),
          dataType: 'Boolean',
          accessLevel: 'CurrentRead | CurrentWrite',
          userAccessLevel: 'CurrentRead | CurrentWrite',
          minimumSamplingInterval: PLC_WRITTEN_SAMPLING_MS,
          value: {
            get: () => new Variant({ dataType: DataType.Boolean, value: false }),
            set: (v: Variant) => {
              if (v.value === true) act();
              return StatusCodes.Good;
            },
          },
        });
      edge('Trigger', () => {
        if (!triggers) return log.warn({ stationId: id }, 'Trigger written, but the station does not take triggers over OPC UA');
        if (partId === '') return log.warn({ stationId: id }, 'Trigger written without a PartId; refused');
        triggerFromLink(station, partId, 'opcua', log);
      });
      edge('Ack', () => station.handshake.ack());
      namespace.addVariable({
        componentOf: object,
        browseName: 'RecipeSelect',
        nodeId: tag('RecipeSelect'),
        dataType: 'Int32',
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
        minimumSamplingInterval: PLC_WRITTEN_SAMPLING_MS,
        value: {
          get: () => new Variant({ dataType: DataType.Int32, value: deps.recipes.current(id) }),
          set: (v: Variant) => {
            const index = Number(v.value);
            if (!stationConfig.recipes.some((r) => r.index === index)) return StatusCodes.BadOutOfRange;
            deps.recipes.select(id, index, 'opcua').catch(() => {});
            return StatusCodes.Good;
          },
        },
      });
      off.push(station.handshake.subscribe((state, changed) => writeStatus(station, status, state, changed)));
      buildCameras(namespace, object, station, stationConfig.cameras);
    }
  }

  // Objects/Visor/Stations/<station>/Cameras/<camera>: the camera's last view, read-only.
  function buildCameras(namespace: Namespace, stationObject: UAObject, station: Station, cameraIds: readonly string[]): void {
    const base = `s=Visor.Stations.${station.id}.Cameras`;
    const folder = namespace.addObject({ componentOf: stationObject, browseName: 'Cameras', nodeId: base, typeDefinition: 'FolderType' });
    const cameras = new Map<string, Map<keyof typeof OPCUA_CAMERA_TAGS, UAVariable>>();
    for (const cameraId of cameraIds) {
      const object = namespace.addObject({ organizedBy: folder, browseName: cameraId, nodeId: `${base}.${cameraId}` });
      const tags = new Map<keyof typeof OPCUA_CAMERA_TAGS, UAVariable>();
      for (const [name, dataType] of Object.entries(OPCUA_CAMERA_TAGS) as Array<[keyof typeof OPCUA_CAMERA_TAGS, DataType]>) {
        const variable = namespace.addVariable({
          componentOf: object,
          browseName: name,
          nodeId: `${base}.${cameraId}.${name}`,
          dataType: DataType[dataType],
          accessLevel: 'CurrentRead',
          userAccessLevel: 'CurrentRead',
        });
        // No view yet: an empty value marked as such.
        const empty = dataType === DataType.String ? '' : dataType === DataType.Double ? 0 : null;
        variable.setValueFromSource(new Variant({ dataType, value: empty }), StatusCodes.UncertainInitialValue);
        tags.set(name, variable);
      }
      cameras.set(cameraId, tags);
    }
    off.push(
      station.onView(({ partId, inspection }) => {
        const tags = cameras.get(inspection.cameraId);
        if (!tags) return;
        const values: Record<keyof typeof OPCUA_CAMERA_TAGS, unknown> = { PartId: partId, Score: inspection.score, CapturedAt: new Date(inspection.capturedAt), Verdict: inspection.verdict };
        for (const [name, variable] of tags) variable.setValueFromSource(new Variant({ dataType: OPCUA_CAMERA_TAGS[name], value: values[name] }), StatusCodes.Good);
      }),
    );
  }

  function writeStatus(_station: Station, status: Map<keyof typeof OPCUA_STATUS_TAGS, UAVariable>, state: Readonly<HandshakeState>, changed: ReadonlySet<keyof HandshakeState>): void {
    for (const [name, variable] of status) {
      const [field, dataType] = OPCUA_STATUS_TAGS[name];
      if (changed.has(field)) variable.setValueFromSource(new Variant({ dataType, value: state[field] }));
    }
  }

  return {
    name: 'opcua',
    get address() {
      return address;
    },
    async start() {
      const { port, resourcePath, host } = config.plc.opcua;
      const s = new OPCUAServer({
        port,
        resourcePath,
        hostname: host,
        buildInfo: { productName: 'Visor', manufacturerName: 'Visor', softwareVersion: VERSION },
        securityPolicies: [SecurityPolicy.None],
        securityModes: [MessageSecurityMode.None],
        allowAnonymous: true,
        serverCertificateManager: opcuaCertificateManager(deps.dataDir, 'server'),
        userCertificateManager: opcuaCertificateManager(deps.dataDir, 'server-users'),
      });
      try {
        await s.initialize();
        build(s);
        await s.start();
      } catch (err) {
        lastError = errorMessage(err);
        await s.shutdown(0).catch(() => {});
        throw err;
      }
      server = s;
      address = s.getEndpointUrl();
      log.info({ endpoint: address, host: host ?? hostname(), stations: own.map((st) => st.id) }, 'OPC UA server listening');
    },
    async stop() {
      for (const o of off.splice(0)) o();
      const s = server;
      server = undefined;
      await s?.shutdown(0);
    },
    health() {
      return { ok: server !== undefined, endpoint: address, sessions: server?.currentSessionCount ?? 0, ...(lastError ? { lastError } : {}) };
    },
  };
}
