// Modbus TCP server: per station a block of MODBUS_BLOCK coils and MODBUS_BLOCK holding
// registers, at MODBUS_BLOCK × the station's position in `stations` (the register map,
// docs/stations.md#modbus-tcp). The PLC writes Trigger (with the part id in two registers
// first) and Ack as coils; Visor takes each and writes it back to 0.
import net from 'node:net';
import Modbus from 'jsmodbus';
import { errorMessage } from '../common/errors.js';
import { COUNTER_WRAP, type HandshakeState } from './handshake.js';
import { triggerFromLink, type StationLink, type StationLinkDeps } from './link.js';
import type { Station } from './station.js';

export const MODBUS_BLOCK = 16;

/** Offsets within a station's block. */
export const modbusMap = {
  coils: { trigger: 0, ack: 1, ready: 2, busy: 3, resultReady: 4, ok: 5, ng: 6, error: 7 },
  holding: {
    /** Part id of the next trigger, unsigned 32-bit: high word, then low word. */
    partIdHigh: 0,
    partIdLow: 1,
    /** The recipe the PLC asks for (written between parts). */
    recipeSelect: 2,
    resultCode: 3,
    /** The result's part id echoed (0 when it is not a number below 2^32). */
    resultPartIdHigh: 4,
    resultPartIdLow: 5,
    heartbeat: 6,
    /** Recipe in force (65535 without recipes). */
    recipe: 7,
    deadlineMisses: 8,
  },
} as const;

const STATUS_COILS = ['ready', 'busy', 'resultReady', 'ok', 'ng', 'error'] as const;
/** What Visor writes: coils ready…error and registers resultCode…deadlineMisses, each a contiguous run. */
export const STATUS_COIL_START = modbusMap.coils.ready;
export const STATUS_REGISTER_START = modbusMap.holding.resultCode;

/** A station's status as the Modbus block holds it (the values from STATUS_COIL_START and STATUS_REGISTER_START on). */
export function statusImage(station: Pick<Station, 'counters'>, state: Readonly<HandshakeState>): { coils: boolean[]; registers: number[] } {
  const echo = numericPartId(state.partId);
  return {
    coils: STATUS_COILS.map((name) => state[name]),
    registers: [
      state.resultCode,
      Math.floor(echo / 65536),
      echo % 65536,
      state.heartbeat,
      state.recipe < 0 ? 0xffff : state.recipe,
      station.counters.deadlineMisses % COUNTER_WRAP,
    ],
  };
}

/** A part id as the PLC can echo-check it: a number below 2^32, else 0. */
export function numericPartId(partId: string): number {
  return /^\d{1,10}$/.test(partId) && Number(partId) < 2 ** 32 ? Number(partId) : 0;
}

export function createModbusLink(deps: StationLinkDeps): StationLink {
  const { config } = deps;
  const log = deps.log.child({ module: 'stations', link: 'modbus' });
  const blocks = config.stations
    .map((s, i) => ({ config: s, base: i * MODBUS_BLOCK, station: deps.stations.find((st) => st.id === s.id)! }))
    .filter((b) => b.config.triggers.includes('modbus') || b.config.transports.includes('modbus'));
  const size = config.stations.length * MODBUS_BLOCK;
  const coils = Buffer.alloc(Math.ceil(size / 8));
  const holding = Buffer.alloc(size * 2);
  let socketServer: net.Server | undefined;
  let address: string | undefined;
  let requests = 0;
  let lastError: string | undefined;
  const off: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const requested = new Map<string, number>();

  const coil = (addr: number): boolean => ((coils[addr >> 3]! >> (addr & 7)) & 1) === 1;
  const setCoil = (addr: number, on: boolean): void => {
    coils[addr >> 3] = on ? coils[addr >> 3]! | (1 << (addr & 7)) : coils[addr >> 3]! & ~(1 << (addr & 7));
  };
  const register = (addr: number): number => holding.readUInt16BE(addr * 2);
  const setRegister = (addr: number, value: number): void => {
    holding.writeUInt16BE(value & 0xffff, addr * 2);
  };

  function write(base: number, station: Station, state: Readonly<HandshakeState>): void {
    const image = statusImage(station, state);
    image.coils.forEach((on, i) => setCoil(base + STATUS_COIL_START + i, on));
    image.registers.forEach((value, i) => setRegister(base + STATUS_REGISTER_START + i, value));
  }

  // After every write from the PLC: take the Trigger and Ack coils it set, and a new recipe selection.
  function afterWrite(): void {
    requests++;
    for (const { config: own, base, station } of blocks) {
      if (coil(base + modbusMap.coils.ack)) {
        setCoil(base + modbusMap.coils.ack, false);
        station.handshake.ack();
      }
      if (coil(base + modbusMap.coils.trigger)) {
        setCoil(base + modbusMap.coils.trigger, false);
        if (own.triggers.includes('modbus')) {
          const partId = register(base + modbusMap.holding.partIdHigh) * 65536 + register(base + modbusMap.holding.partIdLow);
          triggerFromLink(station, String(partId), 'modbus', log);
        } else {
          log.warn({ stationId: station.id }, 'Trigger coil set, but the station does not take triggers over Modbus');
        }
      }
      // Only a changed register is a request: an unknown index is refused (logged) once, not at every write.
      const wanted = register(base + modbusMap.holding.recipeSelect);
      if (wanted !== requested.get(station.id)) {
        requested.set(station.id, wanted);
        if (own.recipes.length > 0 && wanted !== deps.recipes.current(station.id)) deps.recipes.select(station.id, wanted, 'modbus').catch(() => {});
      }
    }
  }

  return {
    name: 'modbus',
    get address() {
      return address;
    },
    async start() {
      for (const { base, station } of blocks) {
        const recipe = deps.recipes.current(station.id);
        if (recipe >= 0) setRegister(base + modbusMap.holding.recipeSelect, recipe);
        requested.set(station.id, register(base + modbusMap.holding.recipeSelect));
        write(base, station, station.handshake.state);
        off.push(station.handshake.subscribe((state) => write(base, station, state)));
      }
      socketServer = new net.Server();
      const server = new Modbus.server.TCP(socketServer, { coils, holding });
      for (const event of ['postWriteSingleCoil', 'postWriteMultipleCoils', 'postWriteSingleRegister', 'postWriteMultipleRegisters'] as const) {
        server.on(event as 'postWriteSingleCoil', () => afterWrite());
      }
      socketServer.on('connection', (socket: net.Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      socketServer.on('error', (err) => {
        lastError = errorMessage(err);
        log.error({ err }, 'Modbus server error');
      });
      await new Promise<void>((resolve, reject) => {
        socketServer!.once('error', reject);
        socketServer!.listen(config.plc.modbus.port, config.plc.modbus.host, () => {
          socketServer!.off('error', reject);
          resolve();
        });
      });
      const bound = socketServer.address() as net.AddressInfo;
      address = `${config.plc.modbus.host}:${bound.port}`;
      log.info({ address, stations: blocks.map((b) => ({ stationId: b.station.id, base: b.base })) }, 'Modbus TCP server listening');
    },
    async stop() {
      for (const o of off.splice(0)) o();
      const server = socketServer;
      socketServer = undefined;
      if (!server) return;
      // Open PLC connections would keep close() waiting.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    health() {
      return { ok: socketServer?.listening === true, address, requests, ...(lastError ? { lastError } : {}) };
    },
  };
}
