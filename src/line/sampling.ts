// The sampling policy: which frames' images are kept, and which inspections become
// retraining samples, and why. One object (createSamplingPolicy), built by the composition
// root from store.okSampleFraction and the upload section; the pipeline asks it whether to
// keep a frame's image, the upload extension whether to upload a stored inspection.
//
// Where each decision is made:
// - Keeping the image: the pipeline, before encoding (defect and uncertain always, ok with
//   store.okSampleFraction); a requested sample is always kept.
// - Policy sampling (defect, uncertain, a fraction of ok, the hourly cap) runs in a store
//   save hook, so the decision and the queue row commit in the transaction that inserts the
//   inspection: a crash cannot leave a stored defect without its decision.
// - A requested sample (pipeline.requestSample: the captureSample direct method, the review
//   UI) is only known from the bus `inspection` event, which follows the commit; it turns the
//   decision into "selected (requested)" and enqueues it then. A crash between the two loses
//   that one request; the caller got the inspection id back and can ask again.
// - Only frames whose image was kept can be uploaded. Ok frames are sampled among the kept
//   ones, with probability okSampleFraction / store.okSampleFraction, which gives the
//   configured fraction overall as long as it is at most store.okSampleFraction (the policy
//   warns when it is not).
import type { CameraConfig, Config, UploadConfig } from '../config/schema.js';
import type { Logger } from '../common/log.js';
import type { Inspection, Verdict } from '../common/types.js';

export interface CameraPolicy {
  enabled: boolean;
  defects: boolean;
  uncertain: boolean;
  okSampleFraction: number;
  maxPerHour: number;
}

export type DecisionReason =
  | 'defect'
  | 'uncertain'
  | 'ok-sampled'
  | 'ok-not-sampled'
  | 'ok-no-image'
  | 'no-image'
  | 'hourly-cap'
  | 'queue-full'
  | 'camera-off'
  | 'defects-off'
  | 'uncertain-off';

export interface Decision {
  selected: boolean;
  reason: DecisionReason;
}

export function cameraPolicy(config: UploadConfig, camera: CameraConfig | undefined): CameraPolicy {
  const own = camera?.upload;
  return {
    enabled: own?.enabled ?? true,
    defects: own?.defects ?? config.defects,
    uncertain: own?.uncertain ?? config.uncertain,
    okSampleFraction: own?.okSampleFraction ?? config.okSampleFraction,
    maxPerHour: own?.maxPerHour ?? config.maxPerHourPerCamera,
  };
}

export interface DecideInput {
  inspection: Inspection;
  policy: CameraPolicy;
  /** store.okSampleFraction: the chance an ok frame's image was kept. */
  storeOkFraction: number;
  /** Policy selections of this camera in the last hour. */
  selectedLastHour: number;
  random: () => number;
}

export function decide(input: DecideInput): Decision {
  const { inspection, policy } = input;
  if (!policy.enabled) return { selected: false, reason: 'camera-off' };
  let wanted: Decision;
  if (inspection.verdict === 'defect') wanted = policy.defects ? { selected: true, reason: 'defect' } : { selected: false, reason: 'defects-off' };
  else if (inspection.verdict === 'uncertain') wanted = policy.uncertain ? { selected: true, reason: 'uncertain' } : { selected: false, reason: 'uncertain-off' };
  else {
    if (policy.okSampleFraction <= 0) return { selected: false, reason: 'ok-not-sampled' };
    if (inspection.imagePath === undefined) return { selected: false, reason: 'ok-no-image' };
    const conditional = input.storeOkFraction <= 0 ? 1 : Math.min(1, policy.okSampleFraction / input.storeOkFraction);
    wanted = input.random() < conditional ? { selected: true, reason: 'ok-sampled' } : { selected: false, reason: 'ok-not-sampled' };
  }
  if (!wanted.selected) return wanted;
  if (inspection.imagePath === undefined) return { selected: false, reason: 'no-image' };
  if (input.selectedLastHour >= policy.maxPerHour) return { selected: false, reason: 'hourly-cap' };
  return wanted;
}

/** Effective overall ok upload fraction, given what the store keeps. */
export function effectiveOkFraction(policy: CameraPolicy, storeOkFraction: number): number {
  return Math.min(policy.okSampleFraction, storeOkFraction);
}

/** How much image keeping is shed under pressure; levels are ordered. Verdicts are always recorded. */
export type ShedLevel = 'none' | 'ok' | 'uncertain' | 'all';
//  'none': keep as configured; 'ok': ok images are not kept (requested samples still are);
//  'uncertain': ok and uncertain images are not kept; 'all': no image is kept, verdicts only.
export const SHED_LEVELS: readonly ShedLevel[] = ['none', 'ok', 'uncertain', 'all'];

export interface PressureSource {
  name: string; // 'disk', 'line', ...
  /** Current level, cheap to call per frame. */
  level(): ShedLevel;
  /** Human text for health, e.g. 'data dir 3% free'. */
  reason(): string | undefined;
}

/** Whether an image with this verdict is shed at this level. */
export function shedsImage(level: ShedLevel, verdict: Verdict): boolean {
  const rank = SHED_LEVELS.indexOf(level);
  if (verdict === 'ok') return rank >= 1;
  if (verdict === 'uncertain') return rank >= 2;
  return rank >= 3;
}

export interface SamplingPolicy {
  /** Under pressure, which images are shed: the highest level of all sources wins. */
  addPressure(source: PressureSource): void;
  shedLevel(): { level: ShedLevel; source?: string; reason?: string };
  /** Whether to keep (encode and store) the image of a frame with this verdict: defect and uncertain always, ok with store.okSampleFraction. */
  keepImage(verdict: Verdict): boolean;
  /** The upload decision for a stored inspection, given the camera's policy selections in the last hour. */
  decideUpload(inspection: Inspection, selectedLastHour: number): Decision;
  /** The upload policy of a camera (its overrides over the upload section). */
  camera(cameraId: string): CameraPolicy;
}

export interface SamplingDeps {
  config: Pick<Config, 'store' | 'upload' | 'cameras'>;
  log: Logger;
  /** Sampling draws (tests pass a seeded or constant one); drawn only when the outcome is in doubt. */
  random?: () => number;
}

export function createSamplingPolicy(deps: SamplingDeps): SamplingPolicy {
  const { store, upload, cameras } = deps.config;
  const random = deps.random ?? Math.random;
  const storeOkFraction = store.okSampleFraction;
  const policies = new Map(cameras.map((c) => [c.id, cameraPolicy(upload, c)]));
  const policyOf = (cameraId: string) => policies.get(cameraId) ?? cameraPolicy(upload, undefined);
  if (upload.enabled) {
    for (const [cameraId, p] of policies) {
      if (p.enabled && p.okSampleFraction > storeOkFraction) {
        deps.log.warn(
          { cameraId, uploadOkSampleFraction: p.okSampleFraction, storeOkSampleFraction: storeOkFraction },
          'upload samples ok frames only among those whose image is stored: raise store.okSampleFraction to reach upload.okSampleFraction',
        );
      }
    }
  }
  const pressures: PressureSource[] = [];
  return {
    addPressure(source) {
      pressures.push(source);
    },
    shedLevel() {
      let worst: { level: ShedLevel; source?: string; reason?: string } = { level: 'none' };
      for (const p of pressures) {
        const level = p.level();
        if (SHED_LEVELS.indexOf(level) > SHED_LEVELS.indexOf(worst.level)) worst = { level, source: p.name, reason: p.reason() };
      }
      return worst;
    },
    keepImage(verdict) {
      if (verdict !== 'ok') return true;
      if (storeOkFraction >= 1) return true;
      if (storeOkFraction <= 0) return false;
      return random() < storeOkFraction;
    },
    decideUpload: (inspection, selectedLastHour) => decide({ inspection, policy: policyOf(inspection.cameraId), storeOkFraction, selectedLastHour, random }),
    camera: policyOf,
  };
}
