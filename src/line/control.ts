// Runtime control of a running line: thresholds, the model in use, samples on demand.
// The module twin, direct methods and the review UI's settings all go through here.
import { Value } from '@sinclair/typebox/value';
import type { Bus } from './bus.js';
import { ThresholdOverrides, type CameraConfig, type Config } from '../config/schema.js';
import { ConfigError, errorMessage } from '../common/errors.js';
import { lineThreads, loadModelPackage, openInferencer, resolveThresholds, type Inferencer } from '../inference/index.js';
import type { ModelManifest } from '../inference/manifest.js';
import type { Logger } from '../common/log.js';
import type { Thresholds } from '../common/types.js';
import type { Static } from '@sinclair/typebox';

export type ThresholdOverridesInput = Static<typeof ThresholdOverrides>;

export interface LineControl {
  thresholds(cameraId: string): Thresholds;
  /**
   * Overrides thresholds at runtime, for one camera or (no cameraId) for the model, i.e.
   * every camera without its own override. Validated like the config; throws ConfigError.
   * Applies from the next frame; emits `thresholds` for each camera affected.
   */
  setThresholds(overrides: unknown, options: { cameraId?: string; source: string }): Record<string, Thresholds>;
  readonly inferencer: Inferencer;
  readonly modelDir: string;
  /**
   * Loads a model package, checks it against its manifest and graph, warms it up, then
   * swaps it in between frames. On any failure the running model stays and this throws.
   */
  swapModel(dir: string): Promise<ModelManifest>;
  close(): Promise<void>;
}

export interface LineControlDeps {
  config: Config;
  inferencer: Inferencer;
  modelDir: string;
  bus: Bus;
  log: Logger;
}

export function createLineControl(deps: LineControlDeps): LineControl {
  const { config, bus, log } = deps;
  let inferencer = deps.inferencer;
  let modelDir = deps.modelDir;
  let modelOverrides: ThresholdOverridesInput | undefined = config.model.thresholds;
  const cameraOverrides = new Map<string, ThresholdOverridesInput | undefined>(config.cameras.map((c: CameraConfig) => [c.id, c.thresholds]));
  const current = new Map<string, Thresholds>();

  function recompute(): Record<string, Thresholds> {
    const changed: Record<string, Thresholds> = {};
    for (const [cameraId, own] of cameraOverrides) {
      const next = resolveThresholds(inferencer.manifest.thresholds, modelOverrides, own);
      const prev = current.get(cameraId);
      current.set(cameraId, next);
      if (!prev || prev.defect !== next.defect || prev.uncertainBand !== next.uncertainBand) changed[cameraId] = next;
    }
    return changed;
  }
  recompute();

  function validate(overrides: unknown, path: string): ThresholdOverridesInput {
    if (!Value.Check(ThresholdOverrides, overrides)) {
      throw new ConfigError([...Value.Errors(ThresholdOverrides, overrides)].map((e) => `${path}${e.path.replace(/\//g, '.')}: ${e.message}`));
    }
    return overrides;
  }

  return {
    thresholds(cameraId) {
      const t = current.get(cameraId);
      if (!t) throw new ConfigError([`cameraId: no camera "${cameraId}"`]);
      return t;
    },
    setThresholds(overrides, { cameraId, source }) {
      if (cameraId !== undefined) {
        if (!cameraOverrides.has(cameraId)) throw new ConfigError([`cameraId: no camera "${cameraId}"`]);
        const merged = { ...cameraOverrides.get(cameraId), ...validate(overrides, `cameras.${cameraId}.thresholds`) };
        cameraOverrides.set(cameraId, merged);
      } else {
        modelOverrides = { ...modelOverrides, ...validate(overrides, 'model.thresholds') };
      }
      const changed = recompute();
      for (const [id, thresholds] of Object.entries(changed)) {
        log.info({ cameraId: id, thresholds, source }, 'thresholds changed');
        bus.emit('thresholds', { cameraId: id, thresholds, source });
      }
      return Object.fromEntries(current);
    },
    get inferencer() {
      return inferencer;
    },
    get modelDir() {
      return modelDir;
    },
    async swapModel(dir) {
      let next: Inferencer;
      try {
        next = await openInferencer({
          pkg: await loadModelPackage(dir),
          executionProviders: config.model.executionProviders,
          threads: config.model.threads || lineThreads(config.cameras.length),
          worker: config.model.worker,
          log,
        });
      } catch (err) {
        log.error({ err, dir, detail: errorMessage(err) }, 'model refused; the running model stays');
        throw err;
      }
      const previous = inferencer;
      if (JSON.stringify([previous.geometry.resize, previous.geometry.frame]) !== JSON.stringify([next.geometry.resize, next.geometry.frame])) {
        // Cameras were started at the old model's frame; the new model brings those frames to
        // its own frame again (a second resize), so its scores differ slightly from `visor inspect`.
        log.warn(
          { previous: previous.geometry, next: next.geometry },
          'the new model asks for another frame size or resize; cameras deliver the old one until the line restarts',
        );
      }
      inferencer = next;
      modelDir = dir;
      const changed = recompute();
      log.info({ model: next.manifest.name, version: next.manifest.version, previous: previous.manifest.version }, 'model swapped');
      bus.emit('model', { manifest: next.manifest, dir });
      for (const [id, thresholds] of Object.entries(changed)) bus.emit('thresholds', { cameraId: id, thresholds, source: 'model' });
      // Waits for a frame still running on the old model, then frees it.
      await previous.close();
      return next.manifest;
    },
    async close() {
      await inferencer.close();
    },
  };
}
