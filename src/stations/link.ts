// What a PLC link (OPC UA, Modbus TCP, MQTT) is: it writes each station's handshake to the
// PLC and feeds the PLC's triggers, acks and recipe selections back.
import type { Logger } from '../common/log.js';
import type { Config } from '../config/schema.js';
import type { LinkName } from '../config/stations.js';
import type { ComponentHealth } from '../line/health.js';
import type { Recipes } from './recipes.js';
import type { Station } from './station.js';

export interface StationLinkDeps {
  config: Config;
  stations: Station[];
  recipes: Recipes;
  log: Logger;
  /** Visor's data folder (absolute): the OPC UA certificate stores live under it. */
  dataDir: string;
}

export interface StationLink {
  readonly name: LinkName;
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): ComponentHealth;
  /** Where the PLC reaches it (a server's endpoint, the broker's URL), once started. */
  readonly address: string | undefined;
}

/** Starts a trigger from a PLC link: a refused trigger (busy) or failure is logged, never thrown into the link. */
export function triggerFromLink(station: Station, partId: string, source: string, log: Logger): void {
  station.trigger(partId, source).catch((err: unknown) => log.warn({ err, stationId: station.id, partId, source }, 'trigger refused'));
}
