// What the review server is built from (ReviewDeps) and what its route plugins get (ReviewContext).
import type { Bus } from '../line/bus.js';
import type { ReviewConfig } from '../config/schema.js';
import type { ComponentHealth } from '../line/health.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../line/metrics.js';
import type { TriggerRegistry } from '../line/triggers.js';
import type { Store } from '../store/index.js';
import type { Learning } from '../learning/index.js';
import type { CameraStatus, Inspection, Thresholds } from '../common/types.js';
import type { BoardQueries } from './board.js';
import type { ThresholdSources } from './thresholds.js';
import type { LiveFrames } from './live.js';
import type { LoginBackoff } from './login-backoff.js';
import type { ReviewQueue } from './queue.js';
import type { SseHub } from './sse.js';
import type { UserStore } from './users.js';

export interface ModelInfo {
  name: string;
  version: string;
  task: string;
  /** The model's class labels (relabelling offers them); empty for a model without any. */
  labels?: string[];
}

/** The part of LineControl the settings page uses. */
export interface ThresholdControl {
  thresholds(cameraId: string): Thresholds;
  setThresholds(overrides: unknown, options: { cameraId?: string; source: string }): Record<string, Thresholds>;
  /** The running model; its manifest's thresholds are the calibrated ones. */
  readonly inferencer: { readonly manifest: { readonly thresholds: Thresholds } };
}

export interface ReviewDeps {
  store: Store;
  bus: Bus;
  /** The `review` config section, with defaults. */
  config: ReviewConfig;
  cameras: () => CameraStatus[];
  model: () => ModelInfo;
  metrics: Metrics;
  /** Runtime thresholds; without it the settings routes answer 503. */
  control?: ThresholdControl;
  live?: LiveFrames;
  /** Whether the config file sets thresholds for this camera (model- or camera-wide); default: no. */
  configuredThresholds?: (cameraId: string) => boolean;
  /** Takes the camera's next frame as a sample (kept, uploaded); without it the Live page offers no capture. */
  requestSample?: (cameraId: string, options?: { timeoutMs?: number }) => Promise<Inspection>;
  /** The store's image quota (store.maxDiskMb), for the board's disk alarm. */
  diskQuotaMb?: number;
  /** The stations: part triggers (POST /api/stations/:id/trigger), what the UI shows of them and the recipe switch; without it those routes answer 503. */
  triggers?: Pick<TriggerRegistry, 'trigger' | 'controls'>;
  /** The learning loop (learning.enabled); without it the Learning routes answer 503. */
  learning?: Learning;
  /** Health of the other components (IoT Hub, uploads, …). */
  components?: () => Record<string, ComponentHealth>;
  /** Folder of the built UI; default dist/ui. */
  uiDir?: string;
  log: Logger;
  now?: () => number;
  /** Makes the one-time first-admin setup code (default: 12 random characters, 59 bits); tests pass their own. */
  newSetupCode?: () => string;
  /** Where the setup code is printed besides the log (default: stderr). */
  announce?: (line: string) => void;
}

/** What the route plugins get: the deps plus the services built from them. */
export interface ReviewContext extends ReviewDeps {
  users: UserStore;
  queue: ReviewQueue;
  sse: SseHub;
  uiDir: string;
  /** The first-admin setup code of this start; undefined when setup is not offered. */
  setupCode: string | undefined;
  loginBackoff: LoginBackoff;
  thresholdSources: ThresholdSources;
  board: BoardQueries;
}
