// The sampling policy: which inspections become retraining samples, and why.
//
// Where each decision is made:
// - Policy sampling (defect, uncertain, a fraction of ok, the hourly cap) runs in a store
//   save hook, so the decision and the queue row commit in the transaction that inserts the
//   inspection: a crash cannot leave a stored defect without its decision.
// - A requested sample (pipeline.requestSample: the captureSample direct method, the review
//   UI) is only known from the bus `inspection` event, which follows the commit; it turns the
//   decision into "selected (requested)" and enqueues it then. A crash between the two loses
//   that one request; the caller got the inspection id back and can ask again.
// - Only frames whose image the store kept can be uploaded. Ok frames are sampled among the
//   ones the store kept, with probability okSampleFraction / store.okSampleFraction, which
//   gives the configured fraction overall as long as it is at most store.okSampleFraction
//   (the extension warns at start-up when it is not).
import type { CameraConfig, UploadConfig } from '../config/schema.js';
import type { Inspection } from '../common/types.js';

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
