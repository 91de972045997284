// Public API of the inference module: model packages, sessions, decisions and overlays, and
// bringing your own model (import.ts: `visor model init`, check.ts: `visor model check`).
export type { ModelManifest } from './manifest.js';
export { ManifestSchema, thresholdBounds, type ThresholdBounds } from './manifest.js';
export { loadModelPackage, parseManifest, defectLabelsOf, sha256File, type ModelPackage } from './package.js';
export {
  createInferencer,
  lineThreads,
  mapExecutionProviders,
  ExecutionProviderError,
  type Inferencer,
  type InferencerDeps,
  type InferenceResult,
} from './session.js';
export { createWorkerInferencer, openInferencer } from './worker-client.js';
export { createPreprocessor, normalizeInto, resizeImage, type Preprocessor } from './preprocess.js';
export { createPostprocessor, nms, iou, softmax, DETECTION_DEFAULTS, type OutputTensor, type OutputTensors } from './postprocess.js';
export { decide, resolveThresholds, type ThresholdOverrides } from './decision.js';
export { createOverlayCache, heatColour, heatScale, renderOverlay, type OverlayCache, type OverlayOptions } from './overlay.js';
export { imageFromFile } from './image.js';
export { initModelPackage, EXPORT_FAMILIES, type ExportFamily, type InitResult, type FieldSource } from './import.js';
export { checkModelPackage, type CheckReport, type CheckFinding } from './check.js';
