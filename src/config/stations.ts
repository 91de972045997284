// Config section `plc` (the links from stations to the machine controller), owned by
// src/stations. The `stations` list itself is in schema.ts beside the cameras it names.
import { Type, type Static } from '@sinclair/typebox';

export const LINKS = ['opcua', 'opcua-client', 'modbus', 'modbus-client', 'mqtt'] as const;
export type LinkName = (typeof LINKS)[number];
export const PlcLink = Type.Union(LINKS.map((l) => Type.Literal(l)));

export const PlcSection = Type.Object(
  {
    opcua: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 4840, description: 'TCP port of Visor\'s OPC UA server (0 = any free port).' }),
        host: Type.Optional(Type.String({ description: 'Host name announced in the endpoint URL. Default: the machine\'s host name.' })),
        resourcePath: Type.String({ default: '/visor', description: 'Path of the endpoint URL (opc.tcp://host:port/visor).' }),
      },
      { additionalProperties: false, default: {}, description: 'Visor\'s OPC UA server (SecurityPolicy None, anonymous; put it on the machine network only). Address space: Objects/Visor/Stations/<id> (the handshake) and .../<id>/Cameras/<camera> (its last view). Certificate kept in <store.dataDir>/pki/opcua-server.' },
    ),
    opcuaClient: Type.Object(
      {
        endpoint: Type.Optional(Type.String({ description: 'The PLC\'s own OPC UA server (opc.tcp://…). Needed when a station uses "opcua-client".' })),
        nodeId: Type.String({
          default: 'ns=1;s=Visor.Stations.{station}.{tag}',
          description: 'Node id of each handshake tag on the PLC\'s server: {station} and {tag} (Ready, Busy, …, PartId, Trigger, Ack, RecipeSelect; docs/stations.md) are filled in.',
        }),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String({ description: 'Secret; never logged.' })),
        samplingIntervalMs: Type.Integer({ minimum: 0, maximum: 10000, default: 10, description: 'How often the PLC\'s server samples Trigger, Ack and RecipeSelect for Visor\'s subscription.' }),
      },
      { additionalProperties: false, default: {}, description: 'OPC UA client: Visor writes the handshake to the PLC\'s server and subscribes to its Trigger, Ack and RecipeSelect (SecurityPolicy None).' },
    ),
    modbus: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 502, description: 'TCP port of Visor\'s Modbus TCP server (0 = any free port; 502 needs privileges).' }),
        host: Type.String({ default: '0.0.0.0', description: 'Address the Modbus server listens on.' }),
      },
      { additionalProperties: false, default: {}, description: 'Visor\'s Modbus TCP server: per station a block of 16 coils and 16 holding registers (docs/stations.md).' },
    ),
    modbusClient: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1, description: 'The PLC (a Modbus TCP server). Needed when a station uses "modbus-client".' })),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 502 }),
        unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1 }),
        offset: Type.Integer({ minimum: 0, maximum: 65000, default: 0, description: 'Address of the first station\'s block on the PLC; each station\'s block of 16 coils and 16 holding registers follows at offset + 16 × its position.' }),
        pollMs: Type.Integer({ minimum: 1, maximum: 10000, default: 20, description: 'How often Trigger, Ack and RecipeSelect are read from the PLC.' }),
        timeoutMs: Type.Integer({ minimum: 10, maximum: 60000, default: 1000, description: 'Timeout of one Modbus request.' }),
      },
      { additionalProperties: false, default: {}, description: 'Modbus TCP client: for a PLC that is the Modbus server; the register map of Visor\'s own server (docs/stations.md).' },
    ),
    mqtt: Type.Object(
      {
        url: Type.Optional(Type.String({ description: 'Broker URL (mqtt://host:1883, mqtts://…). Needed when a station uses "mqtt".' })),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String({ description: 'Secret; never logged.' })),
        clientId: Type.String({ default: 'visor', description: 'MQTT client id.' }),
        topicPrefix: Type.String({ default: 'visor/stations', description: 'Topics: <prefix>/status (online/offline, retained, the last will), <prefix>/<station>/state (retained) and /result (out), /trigger, /ack, /recipe (in); docs/stations.md.' }),
        qos: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { default: 1 }),
      },
      { additionalProperties: false, default: {}, description: 'MQTT v5 client: results with user properties, triggers by message.' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type PlcConfig = Static<typeof PlcSection>;

/** Rules about stations a JSON schema cannot say. */
interface StationRulesInput {
  cameras: Array<{ id: string }>;
  stations: Array<{ id: string; cameras: string[]; deadlineMs: number; lateWindowMs: number; triggers: string[]; transports: string[]; recipes: Array<{ index: number }>; recipe?: number }>;
  plc: PlcConfig;
}

export function stationIssues(config: StationRulesInput): string[] {
  const issues: string[] = [];
  const cameras = new Set(config.cameras.map((c) => c.id));
  const seen = new Map<string, number>();
  config.stations.forEach((station, i) => {
    const at = `stations[${i}]`;
    const first = seen.get(station.id);
    if (first !== undefined) issues.push(`${at}.id: "${station.id}" is already used by stations[${first}]`);
    else seen.set(station.id, i);
    station.cameras.forEach((id, j) => {
      if (!cameras.has(id)) issues.push(`${at}.cameras[${j}]: no camera "${id}" (cameras[].id)`);
    });
    if (station.lateWindowMs < station.deadlineMs) issues.push(`${at}.lateWindowMs: must be at least deadlineMs (${station.deadlineMs})`);
    const indexes = new Set<number>();
    station.recipes.forEach((r, j) => {
      if (indexes.has(r.index)) issues.push(`${at}.recipes[${j}].index: ${r.index} is used twice`);
      indexes.add(r.index);
    });
    if (station.recipe !== undefined && !indexes.has(station.recipe)) issues.push(`${at}.recipe: no recipe with index ${station.recipe}`);
    const links = [...station.triggers, ...station.transports];
    if (links.includes('mqtt') && !config.plc.mqtt.url) issues.push(`${at}: uses "mqtt", which needs plc.mqtt.url`);
    if (links.includes('modbus-client') && !config.plc.modbusClient.host) issues.push(`${at}: uses "modbus-client", which needs plc.modbusClient.host`);
    if (links.includes('opcua-client') && !config.plc.opcuaClient.endpoint) issues.push(`${at}: uses "opcua-client", which needs plc.opcuaClient.endpoint`);
  });
  return issues;
}

/**
 * Cameras inspected only on trigger: every station they belong to says `inspect: triggered`
 * (a camera shared with a continuous station is inspected all the time).
 */
export function triggeredOnlyCameras(config: { stations: Array<{ cameras: string[]; inspect: 'continuous' | 'triggered' }> }): Set<string> {
  const continuous = new Set(config.stations.filter((s) => s.inspect === 'continuous').flatMap((s) => s.cameras));
  return new Set(config.stations.filter((s) => s.inspect === 'triggered').flatMap((s) => s.cameras).filter((id) => !continuous.has(id)));
}
