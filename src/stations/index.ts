// Triggered part inspection on the line: the stations of the config, their handshake, and
// the PLC links (OPC UA server, Modbus TCP server, MQTT) that carry it. An extension of the
// line: it takes inspections from the bus and the store's save hook, nothing else.
import type { AppContext, Extension } from '../line/extension.js';
import { createParts, pruneParts, type Parts } from '../store/parts.js';
import { createStation, type Station } from './station.js';
import { createRecipes, type Recipes } from './recipes.js';
import { LINKS, type LinkName } from '../config/stations.js';
import type { StationLink, StationLinkDeps } from './link.js';
import type { StationConfig } from '../config/schema.js';
import type { StationControl } from '../line/triggers.js';

export { RESULT_CODES, createHandshake, type Handshake, type HandshakeState } from './handshake.js';
export { StationBusyError, createStation, type Station } from './station.js';

/**
 * The PLC links, loaded only when a station uses them: the OPC UA stack alone takes seconds
 * to import on a small device, and every `visor` command imports the app.
 */
const LINK_FACTORIES: Record<LinkName, () => Promise<(deps: StationLinkDeps) => StationLink>> = {
  opcua: async () => (await import('./opcua.js')).createOpcuaLink,
  'opcua-client': async () => (await import('./opcua-client.js')).createOpcuaClientLink,
  modbus: async () => (await import('./modbus.js')).createModbusLink,
  'modbus-client': async () => (await import('./modbus-client.js')).createModbusClientLink,
  mqtt: async () => (await import('./mqtt.js')).createMqttLink,
};

export interface StationsExtension extends Extension {
  readonly stations: Station[];
  readonly parts: Parts;
  readonly recipes: Recipes;
  /** The PLC links by name, once started (for their addresses). */
  readonly links: StationLink[];
}

const DAY_MS = 24 * 3600 * 1000;

/** What the review UI shows of a station and the recipe switch it offers: the PLC's own mechanism. */
function stationControl(config: StationConfig, station: Station, recipes: Recipes): StationControl {
  return {
    id: station.id,
    cameras: config.cameras,
    recipes: config.recipes.map(({ index, name, model }) => ({ index, name, model })),
    status: () => {
      const { ready, busy, resultReady, ok, ng, error, resultCode, partId, recipe } = station.handshake.state;
      return { ready, busy, resultReady, ok, ng, error, resultCode, partId, recipe, counters: { ...station.counters } };
    },
    selectRecipe: (index, source) => recipes.select(station.id, index, source),
  };
}

export async function createStationsExtension(ctx: AppContext): Promise<StationsExtension | undefined> {
  const { config, log } = ctx;
  if (config.stations.length === 0) return undefined;
  const parts = createParts(ctx.store.db);
  const recipes = createRecipes({ config, parts, control: ctx.control, baseDir: ctx.baseDir, log });
  const stations = config.stations.map((station) =>
    createStation({
      config: station,
      store: ctx.store,
      parts,
      bus: ctx.bus,
      log,
      recipe: () => recipes.current(station.id),
      prioritize: ctx.pipeline.prioritize,
      cameraStates: () => ctx.cameras.map((c) => c.status()),
    }),
  );
  recipes.attach(stations);
  const used = new Set(config.stations.flatMap((s) => [...s.triggers, ...s.transports]));
  const links: StationLink[] = [];
  const linkDeps = { config, stations, recipes, log, dataDir: ctx.store.dataDir };
  for (const name of LINKS) if (used.has(name)) links.push((await LINK_FACTORIES[name]())(linkDeps));
  for (const link of links) ctx.health.add(`plc.${link.name}`, () => link.health());
  ctx.health.add('stations', () => ({ ok: true, stations: Object.fromEntries(stations.map((s) => [s.id, { ...s.handshake.state, ...s.counters }])) }));
  const off: Array<() => void> = [];
  let retention: NodeJS.Timeout | undefined;
  let pruning: Promise<unknown> | undefined;
  let stopping = new AbortController();

  return {
    name: 'stations',
    stations,
    parts,
    recipes,
    links,
    async start() {
      for (const station of stations) {
        station.start();
        const own = config.stations.find((s) => s.id === station.id)!;
        if (own.triggers.includes('http')) off.push(ctx.triggers.register(station.id, (partId, source) => station.trigger(partId, source)));
        off.push(ctx.triggers.addControl(stationControl(own, station, recipes)));
      }
      await recipes.start();
      // A link that cannot start (port taken, broker down at start) is logged; the others and the line run on.
      for (const link of links) {
        try {
          await link.start();
        } catch (err) {
          log.error({ err, link: link.name }, 'PLC link failed to start; the stations run without it');
        }
      }
      // One pass at a time, in steps (pruneParts); stop() waits for the one running.
      stopping = new AbortController();
      const prune = (): void => {
        if (pruning) return;
        pruning = pruneParts(parts, Date.now() - config.store.retentionDays * DAY_MS, stopping.signal)
          .catch((err: unknown) => log.warn({ err }, 'pruning old parts failed; the next pass tries again'))
          .finally(() => (pruning = undefined));
      };
      retention = setInterval(prune, config.store.retentionIntervalSeconds * 1000);
      retention.unref();
      prune();
    },
    async stop() {
      clearInterval(retention);
      stopping.abort();
      await pruning;
      for (const o of off.splice(0)) o();
      // Stations first: their last state (Error high, waiting parts answered) reaches the PLC before the links close.
      for (const station of stations) station.stop();
      for (const link of [...links].reverse()) {
        try {
          await link.stop();
        } catch (err) {
          log.warn({ err, link: link.name }, 'PLC link did not stop cleanly');
        }
      }
    },
  };
}
