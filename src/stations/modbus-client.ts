// Modbus TCP client link: for a PLC that is the Modbus server. The same block per station as
// Visor's own server (docs/stations.md#modbus-tcp), at `plc.modbusClient.offset` + 16 × the
// station's position: Visor polls the PLC's Trigger and Ack coils and RecipeSelect register
// every `pollMs`, and writes its status coils and registers when they change (and all of
// them after each reconnection). Reconnects with capped exponential backoff.
import net from 'node:net';
import Modbus from 'jsmodbus';
import { backoffDelay } from '../common/backoff.js';
import { errorMessage } from '../common/errors.js';
import type { HandshakeState } from './handshake.js';
import { triggerFromLink, type StationLink, type StationLinkDeps } from './link.js';
import { MODBUS_BLOCK, STATUS_COIL_START, STATUS_REGISTER_START, modbusMap, statusImage } from './modbus.js';
import type { Station } from './station.js';

export function createModbusClientLink(deps: StationLinkDeps): StationLink {
  const { config } = deps;
  const settings = config.plc.modbusClient;
  const log = deps.log.child({ module: 'stations', link: 'modbus-client' });
  const blocks = config.stations
    .map((s, i) => ({ config: s, base: settings.offset + i * MODBUS_BLOCK, station: deps.stations.find((st) => st.id === s.id)! }))
    .filter((b) => b.config.triggers.includes('modbus-client') || b.config.transports.includes('modbus-client'));
  const address = `${settings.host}:${settings.port}`;
  let socket: net.Socket | undefined;
  let client: InstanceType<typeof Modbus.client.TCP> | undefined;
  let connected = false;
  let stopped = false;
  let failures = 0;
  let lastError: string | undefined;
  let polls = 0;
  let poller: NodeJS.Timeout | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  const requested = new Map<string, number>();
  const off: Array<() => void> = [];
  // Writes go out one after another: a newer state never overtakes an older one.
  let writing: Promise<unknown> = Promise.resolve();

  function writeStatus(station: Station, base: number, state: Readonly<HandshakeState>, writesStatus: boolean): void {
    if (!writesStatus || !connected || !client) return;
    const c = client;
    const image = statusImage(station, state);
    writing = writing
      // Registers first: when the PLC sees ResultReady, the code and the part id are already there.
      .then(() => c.writeMultipleRegisters(base + STATUS_REGISTER_START, image.registers))
      .then(() => c.writeMultipleCoils(base + STATUS_COIL_START, image.coils))
      .catch((err: unknown) => {
        lastError = describe(err);
        log.warn({ detail: lastError, stationId: station.id }, 'writing the handshake to the PLC failed');
      });
  }

  const describe = (err: unknown): string => (err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'err' in err ? String((err as { err: unknown }).err) : String(err));

  async function poll(): Promise<void> {
    const c = client;
    if (!c || !connected) return;
    for (const { config: own, base, station } of blocks) {
      const coils = (await c.readCoils(base + modbusMap.coils.trigger, 2)).response.body.valuesAsArray;
      if (coils[modbusMap.coils.ack] === 1) {
        await c.writeSingleCoil(base + modbusMap.coils.ack, false);
        station.handshake.ack();
      }
      if (coils[modbusMap.coils.trigger] === 1 && own.triggers.includes('modbus-client')) {
        const [high, low] = (await c.readHoldingRegisters(base + modbusMap.holding.partIdHigh, 2)).response.body.valuesAsArray as number[];
        await c.writeSingleCoil(base + modbusMap.coils.trigger, false);
        triggerFromLink(station, String(high! * 65536 + low!), 'modbus-client', log);
      }
      if (own.recipes.length > 0) {
        const wanted = (await c.readHoldingRegisters(base + modbusMap.holding.recipeSelect, 1)).response.body.valuesAsArray[0]!;
        if (wanted !== requested.get(station.id)) {
          requested.set(station.id, wanted);
          if (wanted !== deps.recipes.current(station.id)) deps.recipes.select(station.id, wanted, 'modbus-client').catch(() => {});
        }
      }
    }
    polls++;
  }

  function schedulePoll(): void {
    poller = setTimeout(() => {
      poll()
        .catch((err: unknown) => {
          lastError = describe(err);
          log.warn({ detail: lastError }, 'polling the PLC failed');
        })
        .finally(() => {
          if (!stopped && connected) schedulePoll();
        });
    }, settings.pollMs);
  }

  function connect(): Promise<void> {
    return new Promise((resolve) => {
      const s = new net.Socket();
      // The client watches the socket's connect event: made before it connects.
      const c = new Modbus.client.TCP(s, settings.unitId, settings.timeoutMs);
      socket = s;
      client = c;
      s.once('connect', () => {
        connected = true;
        failures = 0;
        lastError = undefined;
        log.info({ address }, 'connected to the PLC over Modbus TCP');
        for (const { base, station, config: own } of blocks) writeStatus(station, base, station.handshake.state, own.transports.includes('modbus-client'));
        schedulePoll();
        resolve();
      });
      s.on('error', (err) => {
        lastError = errorMessage(err);
      });
      s.once('close', () => {
        const was = connected;
        connected = false;
        clearTimeout(poller);
        resolve();
        if (stopped) return;
        failures++;
        const delay = backoffDelay(failures, { initialMs: 500, maxMs: 10_000 });
        if (was) log.warn({ address, detail: lastError }, 'Modbus connection to the PLC lost; reconnecting');
        reconnect = setTimeout(() => void connect(), delay);
      });
      s.connect({ host: settings.host!, port: settings.port });
    });
  }

  return {
    name: 'modbus-client',
    get address() {
      return address;
    },
    async start() {
      for (const { base, station, config: own } of blocks) {
        off.push(station.handshake.subscribe((state) => writeStatus(station, base, state, own.transports.includes('modbus-client'))));
      }
      // The first attempt only: a PLC that is down at start must not hold up the line.
      await connect();
    },
    async stop() {
      stopped = true;
      for (const o of off.splice(0)) o();
      clearTimeout(poller);
      clearTimeout(reconnect);
      await writing;
      socket?.destroy();
    },
    health() {
      return { ok: connected, address, polls, ...(lastError ? { lastError } : {}) };
    },
  };
}
