// Public API of fitting and evaluation (`visor fit`, `visor eval`).
export { fitModel, DEFAULTS as FIT_DEFAULTS, MIN_GOOD, MIN_LABELLED_DEFECTS, type FitOptions, type FitDeps, type FitResult, type ProgressFactory, type Progress } from './fit.js';
export { evaluateModel, type EvalOptions, type EvalDeps, type EvalReport, type ScoredImage } from './eval.js';
export { FitInputError, listImages, labelledFromReviews, readLabelsCsv, type LabelledImage } from './data.js';
export { resolveBackbone, SCALINGS, BUILTIN_BACKBONES_DIR, type Backbone, type ScalingName } from '../backbones/load.js';
export { chooseGeometry, sizesSummary, MAX_TILES, TILE_ASPECT, type GeometryChoice } from './geometry.js';
