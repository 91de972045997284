// Recipes by index: the PLC selects one over Modbus while a part is in flight; that part
// finishes on the old recipe, the next one is inspected on the new one, and both switches
// are in the audit.
import net from 'node:net';
import Modbus from 'jsmodbus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { modbusMap } from '../../src/stations/modbus.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('recipes', () => {
  let line: StationLine;
  let socket: net.Socket;
  let plc: InstanceType<typeof Modbus.client.TCP>;
  let gate: Promise<void> = Promise.resolve();
  let openGate: () => void = () => {};
  const h = modbusMap.holding;

  async function inspect(partId: number): Promise<void> {
    await plc.writeMultipleRegisters(h.partIdHigh, [0, partId]);
    await plc.writeSingleCoil(modbusMap.coils.trigger, true);
  }
  const part = (partId: number) => line.stations.parts.list({ partId: String(partId) })[0];

  beforeAll(async () => {
    const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    line = await startStationLine({
      review: false,
      inferencer: delayedInferencer(real, () => gate),
      stations: [
        {
          id: 'st1',
          cameras: ['cells'],
          deadlineMs: 10_000,
          lateWindowMs: 10_000,
          triggers: ['modbus'],
          transports: ['modbus'],
          // Recipe 1 passes every cell, recipe 2 rejects every cell: which one inspected a part shows in its verdict.
          recipes: [
            { index: 1, name: 'mono', thresholds: { defect: 1e6 } },
            { index: 2, name: 'poly', model: DEMO_MODEL, thresholds: { defect: 0, uncertainBand: 0 } },
          ],
        },
      ],
      plc: { modbus: { port: 0, host: '127.0.0.1' } },
    });
    socket = new net.Socket();
    plc = new Modbus.client.TCP(socket, 1);
    const port = Number(line.stations.links[0]!.address!.split(':')[1]);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject).connect({ host: '127.0.0.1', port }));
  });
  afterAll(async () => {
    openGate();
    socket?.destroy();
    await line?.stop();
  });

  it('switches between parts: the part in flight keeps its recipe, the next gets the new one; both audited', async () => {
    expect((await plc.readHoldingRegisters(h.recipe, 1)).response.body.valuesAsArray[0]).toBe(1);
    await inspect(1);
    await until('part 1', () => part(1)?.verdict);
    expect(part(1)).toMatchObject({ recipe: 1, verdict: 'ok', resultCode: 0 });
    await plc.writeSingleCoil(modbusMap.coils.ack, true);

    // Part 2 waits in inference while the PLC selects recipe 2.
    gate = new Promise((r) => (openGate = r));
    await inspect(2);
    await until('part 2 busy', () => line.stations.stations[0]!.handshake.state.busy);
    await plc.writeSingleRegister(h.recipeSelect, 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(line.stations.recipes.current('st1')).toBe(1); // not while a part waits for its result
    openGate();
    gate = Promise.resolve();
    await until('part 2', () => part(2)?.verdict);
    expect(part(2)).toMatchObject({ recipe: 1, verdict: 'ok' });
    await until('recipe 2 in force', () => line.stations.recipes.current('st1') === 2);
    expect((await plc.readHoldingRegisters(h.recipe, 1)).response.body.valuesAsArray[0]).toBe(2);
    await plc.writeSingleCoil(modbusMap.coils.ack, true);

    await inspect(3);
    await until('part 3', () => part(3)?.verdict);
    expect(part(3)).toMatchObject({ recipe: 2, verdict: 'ng', resultCode: 1, viewsVerdict: 'defect' });

    expect(line.stations.recipes.current('st1')).toBe(2);
    const audit = line.stations.parts.recipeChanges('st1').reverse();
    expect(audit.map(({ fromIndex, toIndex, source }) => ({ fromIndex, toIndex, source }))).toEqual([
      { fromIndex: null, toIndex: 1, source: 'config' },
      { fromIndex: 1, toIndex: 2, source: 'modbus' },
    ]);
  });

  it('refuses an unknown recipe index and keeps the running one', async () => {
    await expect(line.stations.recipes.select('st1', 9, 'test')).rejects.toThrow(/no recipe with index 9 \(known: 1, 2\)/);
    expect(line.stations.recipes.current('st1')).toBe(2);
  });
});
