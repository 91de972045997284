// Visor as Modbus TCP client of the PLC: jsmodbus' own server plays the PLC; the test reads
// and writes the PLC's coils and registers as its program would.
import net from 'node:net';
import Modbus from 'jsmodbus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modbusMap } from '../../src/stations/modbus.js';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('Modbus TCP client to the PLC', () => {
  const base = 100; // plc.modbusClient.offset: the first station's block
  const coils = Buffer.alloc(64);
  const holding = Buffer.alloc(512);
  const coil = (offset: number) => ((coils[(base + offset) >> 3]! >> ((base + offset) & 7)) & 1) === 1;
  const setCoil = (offset: number, on: boolean) => {
    const a = base + offset;
    coils[a >> 3] = on ? coils[a >> 3]! | (1 << (a & 7)) : coils[a >> 3]! & ~(1 << (a & 7));
  };
  const register = (offset: number) => holding.readUInt16BE((base + offset) * 2);
  const setRegister = (offset: number, value: number) => holding.writeUInt16BE(value, (base + offset) * 2);
  let plcSocket: net.Server;
  let line: StationLine;
  const c = modbusMap.coils;
  const h = modbusMap.holding;

  beforeAll(async () => {
    plcSocket = new net.Server();
    new Modbus.server.TCP(plcSocket, { coils, holding });
    await new Promise<void>((resolve) => plcSocket.listen(0, '127.0.0.1', resolve));
    const { port } = plcSocket.address() as net.AddressInfo;
    line = await startStationLine({
      review: false,
      stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000, triggers: ['modbus-client'], transports: ['modbus-client'], heartbeatMs: 50 }],
      plc: { modbusClient: { host: '127.0.0.1', port, offset: base, pollMs: 10 } },
    });
  });
  afterAll(async () => {
    await line?.stop();
    await new Promise((r) => plcSocket.close(r));
  });

  it('writes Ready and the heartbeat into the PLC\'s block', async () => {
    await until('Ready on the PLC', () => coil(c.ready), 10_000);
    const first = register(h.heartbeat);
    await until('the heartbeat moving on the PLC', () => register(h.heartbeat) !== first, 5000);
    expect(register(h.recipe)).toBe(0xffff);
  });

  it('takes the PLC\'s Trigger coil with its part id, writes the result there, and takes its Ack', async () => {
    setRegister(h.partIdHigh, 3);
    setRegister(h.partIdLow, 1234);
    setCoil(c.trigger, true);
    await until('ResultReady on the PLC', () => coil(c.resultReady), 15_000);
    expect(coil(c.trigger)).toBe(false);
    expect(coil(c.ok)).not.toBe(coil(c.ng));
    expect(register(h.resultPartIdHigh) * 65536 + register(h.resultPartIdLow)).toBe(3 * 65536 + 1234);
    const [stored] = line.stations.parts.list({ partId: String(3 * 65536 + 1234) });
    expect(stored).toMatchObject({ source: 'modbus-client', resultCode: register(h.resultCode), verdict: coil(c.ok) ? 'ok' : 'ng' });

    setCoil(c.ack, true);
    await until('Ack taken', () => !coil(c.resultReady) && !coil(c.ack) && coil(c.ready), 10_000);
  });
});
