// Direct methods (and the same commands as cloud-to-device messages): payloads validated
// with TypeBox; 400 for a bad payload, 404 for an unknown camera, 500 when it failed.
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { LineControl } from '../line/control.js';
import { ConfigError, VisorError, errorMessage } from '../common/errors.js';
import type { Pipeline } from '../line/pipeline.js';
import type { MethodResult } from './hub.js';
import { ModelReference } from './model-update.js';
import { validationErrors } from './twin.js';

export const SetThresholdPayload = Type.Object(
  {
    cameraId: Type.Optional(Type.String({ description: 'Omit to change the model-wide thresholds.' })),
    defect: Type.Optional(Type.Number()),
    uncertainBand: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const CaptureSamplePayload = Type.Object(
  { cameraId: Type.String({ minLength: 1 }), timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })) },
  { additionalProperties: false },
);

/** Empty (reload the running package from disk) or a package reference to download. */
export const ReloadModelPayload = Type.Union([Type.Object({}, { additionalProperties: false }), ModelReference]);

export interface MethodDeps {
  control: LineControl;
  pipeline: Pipeline;
  cameraIds: readonly string[];
  status(): unknown;
  /** Downloads and verifies (if a reference is given) and swaps; resolves with the manifest name/version. */
  reloadModel(ref: ModelReference | undefined): Promise<{ name: string; version: string }>;
}

export type MethodHandlers = Record<string, (payload: unknown) => Promise<MethodResult>>;

const bad = (errors: string[]): MethodResult => ({ status: 400, payload: { error: `invalid payload: ${errors.join('; ')}` } });
const unknownCamera = (id: string): MethodResult => ({ status: 404, payload: { error: `no camera "${id}"` } });
const failed = (err: unknown): MethodResult => ({ status: 500, payload: { error: errorMessage(err) } });

/** The SDK hands a JSON payload parsed, else the raw text or nothing; an absent payload means {}. */
function normalize(payload: unknown): unknown {
  return payload === undefined || payload === null || payload === '' ? {} : payload;
}

export function createMethodHandlers(deps: MethodDeps): MethodHandlers {
  return {
    async getStatus() {
      return { status: 200, payload: deps.status() };
    },

    async setThreshold(raw) {
      const payload = normalize(raw);
      if (!Value.Check(SetThresholdPayload, payload)) return bad(validationErrors(SetThresholdPayload, payload));
      const { cameraId, ...overrides } = payload;
      if (overrides.defect === undefined && overrides.uncertainBand === undefined) return bad(['give defect and/or uncertainBand']);
      if (cameraId !== undefined && !deps.cameraIds.includes(cameraId)) return unknownCamera(cameraId);
      try {
        const thresholds = deps.control.setThresholds(overrides, { cameraId, source: 'method' });
        return { status: 200, payload: { thresholds } };
      } catch (err) {
        if (err instanceof ConfigError) return bad(err.issues);
        return failed(err);
      }
    },

    async captureSample(raw) {
      const payload = normalize(raw);
      if (!Value.Check(CaptureSamplePayload, payload)) return bad(validationErrors(CaptureSamplePayload, payload));
      if (!deps.cameraIds.includes(payload.cameraId)) return unknownCamera(payload.cameraId);
      try {
        const i = await deps.pipeline.requestSample(payload.cameraId, { timeoutMs: payload.timeoutMs });
        return { status: 200, payload: { inspectionId: i.id, cameraId: i.cameraId, verdict: i.verdict, score: i.score, imagePath: i.imagePath ?? null } };
      } catch (err) {
        if (err instanceof VisorError && err.code === 'UNKNOWN_CAMERA') return unknownCamera(payload.cameraId);
        return failed(err);
      }
    },

    async reloadModel(raw) {
      const payload = normalize(raw);
      if (!Value.Check(ReloadModelPayload, payload)) return bad(validationErrors(ModelReference, payload));
      try {
        const ref = 'url' in payload ? payload : undefined;
        const model = await deps.reloadModel(ref);
        return { status: 200, payload: { model } };
      } catch (err) {
        return failed(err);
      }
    },
  };
}
