// What the composition root (src/app.ts) hands every extension, and what an extension is.
import type { Camera } from '../capture/index.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/index.js';
import type { Bus } from './bus.js';
import type { LineControl } from './control.js';
import type { HealthRegistry } from './health.js';
import type { Metrics } from './metrics.js';
import type { Pipeline } from './pipeline.js';
import type { SamplingPolicy } from './sampling.js';
import type { TriggerRegistry } from './triggers.js';

/** What every extension gets. */
export interface AppContext {
  config: Config;
  baseDir: string;
  log: Logger;
  store: Store;
  bus: Bus;
  metrics: Metrics;
  cameras: Camera[];
  pipeline: Pipeline;
  control: LineControl;
  health: HealthRegistry;
  /** Which images are kept and which inspections are uploaded. */
  sampling: SamplingPolicy;
  /** Part triggers by station (src/stations registers, the review server's trigger route calls). */
  triggers: TriggerRegistry;
}

export interface Extension {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Builds an extension (or several that share one part, in start order), or nothing when its part of the config leaves it off. */
export type ExtensionFactory = (ctx: AppContext) => Built | Promise<Built>;
type Built = Extension | Extension[] | undefined;
