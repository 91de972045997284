// Module-twin desired properties: a subset of the config, validated with the same schema
// pieces. A document that does not validate is rejected as a whole (reported with the
// reason) and the running config stays. The twin is the desired state: the whole merged
// document is applied after every patch and on every reconnect (idempotent).
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Bus } from '../line/bus.js';
import { ThresholdOverrides, UploadSection } from '../config/schema.js';
import type { LineControl } from '../line/control.js';
import type { AppContext, Extension } from '../line/extension.js';
import { ConfigError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EventsExtension } from './link.js';
import type { ModelRollout } from './model-rollout.js';
import { ModelReference, safeUrl } from './model-update.js';

export const TwinDesired = Type.Object(
  {
    thresholds: Type.Optional(ThresholdOverrides),
    cameras: Type.Optional(
      Type.Record(Type.String(), Type.Object({ thresholds: Type.Optional(ThresholdOverrides) }, { additionalProperties: false }), {
        description: 'Per camera id.',
      }),
    ),
    events: Type.Optional(Type.Object({ sendUncertain: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
    upload: Type.Optional(
      Type.Object(
        {
          okSampleFraction: Type.Optional(UploadSection.properties.okSampleFraction),
          maxPerHourPerCamera: Type.Optional(UploadSection.properties.maxPerHourPerCamera),
        },
        { additionalProperties: false },
      ),
    ),
    model: Type.Optional(ModelReference),
  },
  { additionalProperties: false },
);
export type TwinDesired = Static<typeof TwinDesired>;

/** Sampling from the twin, for the upload module (it owns the policy). */
export interface DesiredSampling {
  okSampleFraction?: number;
  maxPerHourPerCamera?: number;
  /** $version of the desired document it came from. */
  version: number | undefined;
}

declare module '../line/bus.js' {
  interface BusEvents {
    desiredSampling: DesiredSampling;
  }
}

export interface ConfigReport {
  /** $version of the desired document this is about. */
  version: number | null;
  status: 'applied' | 'rejected';
  error?: string;
  at: string;
}

export interface TwinApplierDeps {
  control: LineControl;
  cameraIds: readonly string[];
  bus: Bus;
  log: Logger;
  setSendUncertain(value: boolean): void;
  /** Asks for the desired model (see ModelRollout.desire: not fetched again when in use, under way or refused for good). */
  updateModel(ref: ModelReference, source: string): void;
  now?: () => number;
}

/** Removes the twin's metadata keys ($version, $metadata, …) at every level. */
export function stripMetadata(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripMetadata);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (!key.startsWith('$')) out[key] = stripMetadata(v);
  return out;
}

/** Every problem as "path: message", like the config file's errors. */
export function validationErrors(schema: Parameters<typeof Value.Check>[0], value: unknown, prefix = ''): string[] {
  return [...Value.Errors(schema, value)].map((e) => `${prefix}${e.path.replace(/^\//, '').replace(/\//g, '.') || '(root)'}: ${e.message}`);
}

export function createTwinApplier(deps: TwinApplierDeps) {
  const { control, log } = deps;
  const now = deps.now ?? Date.now;

  return {
    /** Validates and applies the whole desired document; returns what to report. */
    apply(desired: Record<string, unknown>): ConfigReport {
      const version = typeof desired.$version === 'number' ? desired.$version : null;
      const at = new Date(now()).toISOString();
      const doc = stripMetadata(desired);
      const errors = validationErrors(TwinDesired, doc);
      if (errors.length === 0) {
        for (const id of Object.keys((doc as TwinDesired).cameras ?? {})) {
          if (!deps.cameraIds.includes(id)) errors.push(`cameras.${id}: no camera "${id}"`);
        }
      }
      if (errors.length > 0) {
        const error = errors.join('; ');
        log.warn({ version, errors }, 'desired properties rejected; the running config stays');
        return { version, status: 'rejected', error, at };
      }
      const d = doc as TwinDesired;
      try {
        if (d.thresholds) control.setThresholds(d.thresholds, { source: 'twin' });
        for (const [cameraId, camera] of Object.entries(d.cameras ?? {})) {
          if (camera.thresholds) control.setThresholds(camera.thresholds, { cameraId, source: 'twin' });
        }
      } catch (err) {
        log.warn({ err, version }, 'desired thresholds rejected');
        return { version, status: 'rejected', error: errorMessage(err), at };
      }
      if (d.events?.sendUncertain !== undefined) deps.setSendUncertain(d.events.sendUncertain);
      if (d.upload) deps.bus.emit('desiredSampling', { ...d.upload, version: version ?? undefined });
      if (d.model) deps.updateModel(d.model, 'twin');
      log.info({ version, model: d.model ? safeUrl(d.model.url) : undefined }, 'desired properties applied');
      return { version, status: 'applied', at };
    },
  };
}

/** Checks a module twin's desired properties (as in a deployment manifest); throws ConfigError listing every problem. */
export function checkDesiredProperties(desired: unknown): void {
  const issues = validationErrors(TwinDesired, stripMetadata(desired));
  if (issues.length > 0) throw new ConfigError(issues, 'desired properties');
}

/** The module twin's desired properties applied to the line; the outcome reported as `config`. */
export function createTwinExtension(ctx: AppContext, events: EventsExtension, models: ModelRollout): Extension {
  let report: ConfigReport | undefined;
  const twin = createTwinApplier({
    control: ctx.control,
    cameraIds: ctx.cameras.map((c) => c.id),
    bus: ctx.bus,
    log: events.log,
    setSendUncertain(value) {
      events.sendUncertain = value;
    },
    updateModel: (ref, source) => models.desire(ref, source),
  });
  const removers: Array<() => void> = [];
  return {
    name: 'events-twin',
    async start() {
      removers.push(
        events.reported.section('config', () => report ?? null),
        events.handle({
          onDesired(desired) {
            report = twin.apply(desired);
            events.reported.soon();
          },
        }),
      );
    },
    async stop() {
      for (const remove of removers.splice(0)) remove();
    },
  };
}
