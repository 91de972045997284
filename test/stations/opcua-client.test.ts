// Visor as OPC UA client of the PLC: a node-opcua server plays the PLC, with the handshake
// tags in its address space; Visor writes its state there and takes the PLC's Trigger and Ack.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { OPCUAServer } from 'node-opcua-server';
import { DataType, StatusCodes, Variant } from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPCUA_STATUS_TAGS } from '../../src/stations/opcua.js';
import { opcuaPkiDir } from '../../src/stations/opcua-pki.js';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('OPC UA client to the PLC', () => {
  let plc: OPCUAServer;
  let line: StationLine;
  const values = new Map<string, unknown>();
  const set = (tag: string, value: unknown) => values.set(tag, value);
  const get = (tag: string) => values.get(tag);

  beforeAll(async () => {
    plc = new OPCUAServer({ port: 0, hostname: '127.0.0.1', resourcePath: '/plc', allowAnonymous: true });
    await plc.initialize();
    const addressSpace = plc.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    const db = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'VisorDB' });
    const tags: Array<[string, DataType, unknown]> = [
      ...Object.entries(OPCUA_STATUS_TAGS).map(([tag, [, type]]) => [tag, type, type === DataType.Boolean ? false : type === DataType.String ? '' : 0] as [string, DataType, unknown]),
      ['PartId', DataType.String, ''],
      ['Trigger', DataType.Boolean, false],
      ['Ack', DataType.Boolean, false],
      ['RecipeSelect', DataType.Int32, 0],
    ];
    for (const [tag, dataType, initial] of tags) {
      set(tag, initial);
      ns.addVariable({
        componentOf: db,
        browseName: tag,
        nodeId: `s=PLC.st1.${tag}`,
        dataType: DataType[dataType],
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
        minimumSamplingInterval: 10,
        value: {
          get: () => new Variant({ dataType, value: get(tag) }),
          set: (v: Variant) => {
            set(tag, v.value);
            return StatusCodes.Good;
          },
        },
      });
    }
    await plc.start();
    line = await startStationLine({
      review: false,
      stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000, triggers: ['opcua-client'], transports: ['opcua-client'], heartbeatMs: 50 }],
      plc: { opcuaClient: { endpoint: plc.getEndpointUrl(), nodeId: 'ns=1;s=PLC.{station}.{tag}' } },
    });
  }, 60_000);
  afterAll(async () => {
    await line?.stop();
    await plc?.shutdown(0);
  });

  it('writes Ready and the heartbeat to the PLC\'s tags', async () => {
    await until('Ready on the PLC', () => get('Ready') === true, 15_000);
    const first = get('Heartbeat');
    await until('the heartbeat moving on the PLC', () => get('Heartbeat') !== first, 5000);
  });

  it('takes the PLC\'s Trigger with its PartId, writes the result there, and takes its Ack', async () => {
    set('PartId', 'PLC-77');
    set('Trigger', true);
    await until('ResultReady on the PLC', () => get('ResultReady') === true, 15_000);
    expect(get('Trigger')).toBe(false);
    expect(get('ResultPartId')).toBe('PLC-77');
    expect(get('Ok')).not.toBe(get('Ng'));
    const [stored] = line.stations.parts.list({ partId: 'PLC-77' });
    expect(stored).toMatchObject({ source: 'opcua-client', resultCode: get('ResultCode'), verdict: get('Ok') ? 'ok' : 'ng' });

    set('Ack', true);
    await until('Ack taken', () => get('ResultReady') === false && get('Ack') === false && get('Ready') === true, 10_000);
  });

  it("keeps its client certificate in Visor's data folder, not under the user's home", async () => {
    await until('connected to the PLC', () => get('Ready') === true, 15_000);
    const certs = path.join(opcuaPkiDir(line.app.store.dataDir, 'client'), 'own', 'certs');
    const files = (await readdir(certs)).filter((f) => f.endsWith('.pem'));
    expect(files.length).toBeGreaterThan(0);
    const certificate = new X509Certificate(await readFile(path.join(certs, files[0]!)));
    expect(certificate.subject).toContain('Visor');
  });
});
