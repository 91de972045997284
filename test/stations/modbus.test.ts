// The PLC side over Modbus TCP: jsmodbus' own client against Visor's Modbus server, with a
// real folder camera and the shipped model behind it.
import net from 'node:net';
import Modbus from 'jsmodbus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODBUS_BLOCK, modbusMap } from '../../src/stations/modbus.js';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('Modbus TCP', () => {
  let line: StationLine;
  let socket: net.Socket;
  let plc: InstanceType<typeof Modbus.client.TCP>;
  // The second station: its block starts at MODBUS_BLOCK.
  const base = MODBUS_BLOCK;
  const c = modbusMap.coils;
  const h = modbusMap.holding;

  const coils = async () => {
    const { response } = await plc.readCoils(base, 8);
    const bits = response.body.valuesAsArray as number[];
    return Object.fromEntries(Object.entries(c).map(([name, offset]) => [name, bits[offset] === 1]));
  };
  const registers = async () => {
    const { response } = await plc.readHoldingRegisters(base, 9);
    const values = [...(response.body.valuesAsArray as number[])];
    return Object.fromEntries(Object.entries(h).map(([name, offset]) => [name, values[offset]!]));
  };

  beforeAll(async () => {
    line = await startStationLine({
      review: false,
      stations: [
        { id: 'other', cameras: ['cells'] },
        { id: 'st2', cameras: ['cells'], deadlineMs: 5000, triggers: ['modbus'], transports: ['modbus'], heartbeatMs: 50 },
      ],
      plc: { modbus: { port: 0, host: '127.0.0.1' } },
    });
    const port = Number(line.stations.links.find((l) => l.name === 'modbus')!.address!.split(':')[1]);
    socket = new net.Socket();
    plc = new Modbus.client.TCP(socket, 1);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
      socket.connect({ host: '127.0.0.1', port });
    });
  });
  afterAll(async () => {
    socket?.destroy();
    await line?.stop();
  });

  it('shows Ready and a running heartbeat', async () => {
    expect(await coils()).toMatchObject({ ready: true, busy: false, resultReady: false, error: false });
    const first = (await registers()).heartbeat!;
    await until('the heartbeat moving', async () => (await registers()).heartbeat !== first, 5000);
    expect((await registers()).recipe).toBe(0xffff);
  });

  it('takes a trigger coil with the part id from two registers, and answers with ResultReady, Ok/Ng, the code and the part id', async () => {
    const partId = 70_000_123; // above 16 bits: both words matter
    await plc.writeMultipleRegisters(base + h.partIdHigh, [Math.floor(partId / 65536), partId % 65536]);
    await plc.writeSingleCoil(base + c.trigger, true);
    const done = await until('ResultReady', async () => {
      const bits = await coils();
      return bits.resultReady ? bits : undefined;
    }, 10_000);
    expect(done.trigger).toBe(false); // taken and written back to 0
    expect(done.ok).not.toBe(done.ng);
    expect(done.ready).toBe(false);
    const regs = await registers();
    expect(regs.resultPartIdHigh! * 65536 + regs.resultPartIdLow!).toBe(partId);
    const [stored] = line.stations.parts.list({ partId: String(partId) });
    expect(stored).toMatchObject({ stationId: 'st2', source: 'modbus', late: false, resultCode: regs.resultCode, verdict: done.ok ? 'ok' : 'ng' });
    expect(stored!.views).toHaveLength(1);

    await plc.writeSingleCoil(base + c.ack, true);
    await until('Ack clears ResultReady', async () => {
      const bits = await coils();
      return !bits.resultReady && !bits.ok && !bits.ng && !bits.ack && bits.ready;
    }, 5000);
    // The other station's block is untouched.
    const { response } = await plc.readCoils(0, 8);
    expect((response.body.valuesAsArray as number[]).slice(0, 2)).toEqual([0, 0]);
  });
});
