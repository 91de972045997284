// The PLC side over OPC UA: node-opcua's own client against Visor's OPC UA server, with a
// real folder camera and the shipped model behind it.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AttributeIds, DataType, MessageSecurityMode, OPCUAClient, SecurityPolicy, StatusCodes, type ClientSession } from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opcuaCameraNodeId, opcuaNodeId } from '../../src/stations/opcua.js';
import { opcuaPkiDir } from '../../src/stations/opcua-pki.js';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('OPC UA server', () => {
  let line: StationLine;
  let client: OPCUAClient;
  let session: ClientSession;

  const read = async (tag: string): Promise<unknown> => (await session.read({ nodeId: opcuaNodeId('st1', tag), attributeId: AttributeIds.Value })).value.value;
  const write = async (tag: string, dataType: DataType, value: unknown) => {
    const status = await session.write({ nodeId: opcuaNodeId('st1', tag), attributeId: AttributeIds.Value, value: { value: { dataType, value } } });
    return status.name;
  };

  beforeAll(async () => {
    line = await startStationLine({
      review: false,
      stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000, triggers: ['opcua'], transports: ['opcua'], heartbeatMs: 50 }],
      plc: { opcua: { port: 0, host: '127.0.0.1' } },
    });
    const endpoint = line.stations.links.find((l) => l.name === 'opcua')!.address!;
    client = OPCUAClient.create({ endpointMustExist: false, securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None, connectionStrategy: { maxRetry: 2, initialDelay: 100 } });
    await client.connect(endpoint);
    session = await client.createSession();
  }, 60_000);
  afterAll(async () => {
    await session?.close();
    await client?.disconnect();
    await line?.stop();
  });

  it('serves the handshake per station under Objects/Visor/Stations, with a running heartbeat', async () => {
    expect(await read('Ready')).toBe(true);
    expect(await read('Error')).toBe(false);
    expect(await read('Recipe')).toBe(-1);
    const first = await read('Heartbeat');
    await until('the heartbeat moving', async () => (await read('Heartbeat')) !== first, 5000);
    const browsed = await session.browse('ns=1;s=Visor.Stations');
    expect(browsed.references!.map((r) => r.browseName.name)).toEqual(['st1']);
    const cameras = await session.browse('ns=1;s=Visor.Stations.st1.Cameras');
    expect(cameras.references!.map((r) => r.browseName.name)).toEqual(['cells']);
    // No part yet: the camera's view tags say they hold no value.
    const verdict = await session.read({ nodeId: opcuaCameraNodeId('st1', 'cells', 'Verdict'), attributeId: AttributeIds.Value });
    expect(verdict.statusCode.name).toBe('UncertainInitialValue');
    // Status tags are Visor's: a PLC cannot write them.
    expect(await write('Ready', DataType.Boolean, false)).toMatch(/^Bad/);
  });

  it('takes PartId + Trigger from the PLC, answers ResultReady with Ok/Ng, the code and the part id; Ack clears it', async () => {
    expect(await write('PartId', DataType.String, 'SN-OPC-7')).toBe('Good');
    expect(await write('Trigger', DataType.Boolean, true)).toBe('Good');
    await until('ResultReady', async () => (await read('ResultReady')) === true, 10_000);
    const [ok, ng, code, partId, trigger, ready] = await Promise.all(['Ok', 'Ng', 'ResultCode', 'ResultPartId', 'Trigger', 'Ready'].map(read));
    expect(ok).not.toBe(ng);
    expect(partId).toBe('SN-OPC-7');
    expect(trigger).toBe(false);
    expect(ready).toBe(false);
    const [stored] = line.stations.parts.list({ partId: 'SN-OPC-7' });
    expect(stored).toMatchObject({ source: 'opcua', resultCode: code, verdict: ok ? 'ok' : 'ng', late: false });

    expect(await write('Ack', DataType.Boolean, true)).toBe('Good');
    await until('Ack clears ResultReady', async () => (await read('ResultReady')) === false && (await read('Ready')) === true, 5000);
    expect(await read('Ok')).toBe(false);
    expect(await read('Ng')).toBe(false);
  });

  it("shows, per camera of the station, the last view's verdict, score and capture time", async () => {
    expect(await write('PartId', DataType.String, 'SN-OPC-8')).toBe('Good');
    expect(await write('Trigger', DataType.Boolean, true)).toBe('Good');
    await until('ResultReady', async () => (await read('ResultReady')) === true && (await read('ResultPartId')) === 'SN-OPC-8', 10_000);
    const [stored] = line.stations.parts.list({ partId: 'SN-OPC-8' });
    const view = line.app.store.get(stored!.views[0]!.inspectionId)!;
    const camera = async (tag: 'Verdict' | 'Score' | 'CapturedAt' | 'PartId') => {
      const value = await session.read({ nodeId: opcuaCameraNodeId('st1', 'cells', tag), attributeId: AttributeIds.Value });
      expect(value.statusCode).toBe(StatusCodes.Good);
      return value.value.value as unknown;
    };
    expect(await camera('Verdict')).toBe(view.verdict);
    expect(await camera('Score')).toBeCloseTo(view.score, 9);
    expect((await camera('CapturedAt') as Date).getTime()).toBe(view.capturedAt);
    expect(await camera('PartId')).toBe('SN-OPC-8');
    await write('Ack', DataType.Boolean, true);
  });

  it("presents the certificate kept in Visor's data folder, not under the user's home", async () => {
    const [endpoint] = await client.getEndpoints();
    const certs = path.join(opcuaPkiDir(line.app.store.dataDir, 'server'), 'own', 'certs');
    const files = (await readdir(certs)).filter((f) => f.endsWith('.pem'));
    expect(files.length).toBeGreaterThan(0);
    const kept = await Promise.all(files.map(async (f) => new X509Certificate(await readFile(path.join(certs, f))).raw));
    expect(kept.some((der) => der.equals(endpoint!.serverCertificate))).toBe(true);
  });
});
