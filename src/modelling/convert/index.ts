export { ConvertError } from './errors.js';
export { readTfjsModelDir, decodeWeights, type TfjsArtifacts, type WeightSpec, type WeightGroup, type Weight } from './tfjs.js';
export { kerasGraph } from './keras-graph.js';
export {
  convertLayersModel,
  SUPPORTED_LAYERS,
  OPSET,
  type ConvertOptions,
  type ConvertResult,
  type ConvertedOutput,
} from './keras-to-onnx.js';
export { readNsfwjsModel, nsfwjsDistDir, nsfwjsVersion, type NsfwjsModelName } from './nsfwjs.js';
