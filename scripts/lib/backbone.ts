// Cuts the PP-LCNet backbone out of PaddleOCR's PP-OCRv4 text detector and turns two of its
// feature maps into one 1/16-resolution feature tensor.
import { decodeModel, graphOf, floatValueInfo, graphBuilder, pruneToOutputs, type ModelProto } from './onnx-graph.js';

export const INPUT_NAME = 'x';
export const FEATURES_NAME = 'features';
/** 96 channels at 1/8 (stage 3 output) and 192 channels at 1/16 (stage 4 output) of PP-LCNet. */
export const LAYER_1_8 = 'p2o.Add.71';
export const LAYER_1_16 = 'p2o.Add.147';
export const FEATURE_CHANNELS = 96 + 192;

export interface FeatureLayer {
  name: string;
  channels: number;
  /** Average-pooling factor down to the 1/16 grid (1 = none). */
  pool: number;
}
export const DEFAULT_LAYERS: readonly FeatureLayer[] = [
  { name: LAYER_1_8, channels: 96, pool: 2 },
  { name: LAYER_1_16, channels: 192, pool: 1 },
];

/**
 * Returns a model with input `x` [1,3,size,size] and output `features` [1,288,size/16,size/16]:
 * Add.71 average-pooled 2×2 to 1/16, concatenated with Add.147.
 */
export function buildBackbone(detectorOnnx: Uint8Array, size: number, layers: readonly FeatureLayer[] = DEFAULT_LAYERS): ModelProto {
  const model = decodeModel(detectorOnnx);
  pruneToOutputs(model, layers.map((l) => l.name));
  const graph = graphOf(model);
  graph.name = 'ppLCNet-features';
  graph.input = [floatValueInfo(INPUT_NAME, [1, 3, size, size])];
  const b = graphBuilder(model, 'visor.features');
  const parts = layers.map((l) =>
    l.pool === 1 ? l.name : b.node('AveragePool', [l.name], `visor.pooled.${l.name}`, { kernel_shape: [l.pool, l.pool], strides: [l.pool, l.pool] }),
  );
  b.node('Concat', parts, FEATURES_NAME, { axis: 1 });
  const channels = layers.reduce((n, l) => n + l.channels, 0);
  graph.output = [floatValueInfo(FEATURES_NAME, [1, channels, size / 16, size / 16])];
  model.producerName = 'visor scripts/build-demo-model.ts';
  return model;
}
