// The calibrated anomaly score: the local (nearest-neighbour) and global (Gaussian) parts, each
// divided by its own out-of-fold good percentile for the image's mode, added with a fixed weight,
// and divided once more by the percentile of that sum, so 1.0 is the defect threshold at the
// target false-alarm rate for every mode. The heat map is the local distance divided by the
// local normaliser: a position at 1 is as far from every good patch as the threshold image's
// worst positions are.
import { appendGlobal, type GlobalGaussian } from './global.js';
import { appendHead, LOCAL_HEAT, LOCAL_SCORE, type HeadShape } from './head.js';
import { appendMode, type Modes } from './modes.js';
import { floatTensor, floatValueInfo, graphBuilder, graphOf, int64Tensor, type ModelProto } from './onnx-graph.js';

export const HEATMAP = 'heatmap';
/** Calibrated anomaly score [1] (1.0 = threshold); the model's `score` unless a supervised head follows. */
export const ANOMALY_SCORE = 'visor.anomaly.score';
/** Normalised local and global parts [1] (inputs of the supervised head). */
export const LOCAL_PART = 'visor.anomaly.local';
export const GLOBAL_PART = 'visor.anomaly.global';
/** Normalised local heat [P] (the heat map before its reshape). */
export const HEAT_PART = 'visor.anomaly.heat';


export interface AnomalyCalibration {
  /** Raw percentiles per mode: local top-k score, global distance, and the combined normalised score. */
  local: Float32Array;
  global: Float32Array;
  combined: Float32Array;
  globalWeight: number;
}

/** combined = local / qLocal + w · global / qGlobal (per mode); the calibrated score is combined / qCombined. */
export function combine(cal: AnomalyCalibration, mode: number, local: number, global: number): { local: number; global: number; combined: number } {
  const l = local / cal.local[mode]!;
  const g = global / cal.global[mode]!;
  return { local: l, global: g, combined: l + cal.globalWeight * g };
}

/** Appends the whole anomaly part (local head, global Gaussian, modes, calibration) to the features graph. */
export function appendAnomaly(model: ModelProto, featuresName: string, shape: HeadShape, bank: Float32Array, global: GlobalGaussian, modes: Modes, cal: AnomalyCalibration): void {
  appendHead(model, featuresName, shape, bank);
  const b = graphBuilder(model, 'visor.anomaly');
  const distance = appendGlobal(b, featuresName, global);
  const mode = appendMode(b, featuresName, modes);
  const perMode = (name: string, raw: Float32Array): string => {
    const inv = b.init(floatTensor(`visor.anomaly.inv_${name}`, [raw.length], raw.map((v) => 1 / v)));
    return mode === null ? inv : b.node('Gather', [inv, mode], `visor.anomaly.inv_${name}_of_mode`, { axis: 0 }); // [1]
  };
  const invLocal = perMode('local', cal.local);
  const heat = b.node('Mul', [LOCAL_HEAT, invLocal], HEAT_PART);
  b.node('Reshape', [heat, b.init(int64Tensor('visor.anomaly.shape_heatmap', [1, 1, shape.height, shape.width]))], HEATMAP);
  const l = b.node('Mul', [LOCAL_SCORE, invLocal], LOCAL_PART);
  const g = b.node('Mul', [distance, perMode('global', cal.global)], GLOBAL_PART);
  const w = b.init(floatTensor('visor.anomaly.global_weight', [1], new Float32Array([cal.globalWeight])));
  const sum = b.node('Add', [l, b.node('Mul', [g, w], 'visor.anomaly.global_weighted')], 'visor.anomaly.combined');
  b.node('Mul', [sum, perMode('combined', cal.combined)], ANOMALY_SCORE);
  graphOf(model).output = [floatValueInfo(ANOMALY_SCORE, [1]), floatValueInfo(HEATMAP, [1, 1, shape.height, shape.width])];
}
