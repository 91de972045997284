import { readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { ConvertError, convertLayersModel, readTfjsModelDir, decodeWeights } from '../../../src/modelling/convert/index.js';
import { maxDiff, onnxOutputs, seeded, syntheticModel, tfjsOutputs, writeTfjsDir, type SyntheticLayer } from './helpers.js';

const SIZE = 15; // odd, so every "same" layer with stride 2 pads asymmetrically

/** One of every layer type the converter supports, wired so each path is exercised. */
function everyLayer(): SyntheticLayer[] {
  return [
    { name: 'input_1', class_name: 'InputLayer', config: { batch_input_shape: [null, SIZE, SIZE, 3], dtype: 'float32' }, inputs: [] },
    { name: 'pad', class_name: 'ZeroPadding2D', config: { padding: [[0, 1], [1, 2]], data_format: 'channels_last' }, inputs: ['input_1'] },
    {
      name: 'conv_a',
      class_name: 'Conv2D',
      config: { filters: 16, kernel_size: [1, 7], strides: [2, 2], padding: 'same', activation: 'linear', use_bias: true, dilation_rate: [1, 1] },
      inputs: ['pad'],
      weights: { kernel: [1, 7, 3, 16], bias: [16] },
    },
    {
      name: 'bn_a',
      class_name: 'BatchNormalization',
      config: { axis: -1, epsilon: 0.001, center: true, scale: true },
      inputs: ['conv_a'],
      weights: { gamma: [16], beta: [16], moving_mean: [16], moving_variance: [16] },
    },
    { name: 'relu_a', class_name: 'ReLU', config: { max_value: 6, negative_slope: 0, threshold: 0 }, inputs: ['bn_a'] },
    {
      name: 'dw',
      class_name: 'DepthwiseConv2D',
      config: { kernel_size: [3, 3], strides: [2, 2], padding: 'same', depth_multiplier: 2, activation: 'linear', use_bias: true },
      inputs: ['relu_a'],
      weights: { depthwise_kernel: [3, 3, 16, 2], bias: [32] },
    },
    { name: 'act_dw', class_name: 'Activation', config: { activation: 'relu' }, inputs: ['dw'] },
    {
      name: 'bn_b',
      class_name: 'BatchNormalization',
      config: { axis: 3, epsilon: 0.001, center: true, scale: false },
      inputs: ['act_dw'],
      weights: { beta: [32], moving_mean: [32], moving_variance: [32] },
    },
    {
      name: 'conv_b',
      class_name: 'Conv2D',
      config: { filters: 32, kernel_size: [7, 1], strides: [1, 1], padding: 'same', activation: 'relu', use_bias: false },
      inputs: ['bn_b'],
      weights: { kernel: [7, 1, 32, 32] },
    },
    { name: 'pool_max', class_name: 'MaxPooling2D', config: { pool_size: [3, 3], strides: [2, 2], padding: 'same' }, inputs: ['bn_b'] },
    { name: 'pool_avg', class_name: 'AveragePooling2D', config: { pool_size: [3, 3], strides: [1, 1], padding: 'same' }, inputs: ['conv_b'] },
    { name: 'pool_avg_valid', class_name: 'AveragePooling2D', config: { pool_size: [2, 2], strides: [2, 2], padding: 'valid' }, inputs: ['pool_avg'] },
    { name: 'pool_max_valid', class_name: 'MaxPooling2D', config: { pool_size: [3, 3], strides: [1, 1], padding: 'valid' }, inputs: ['conv_b'] },
    { name: 'gap', class_name: 'GlobalAveragePooling2D', config: {}, inputs: ['conv_b'] },
    { name: 'gmp', class_name: 'GlobalMaxPooling2D', config: {}, inputs: ['bn_b'] },
    { name: 'add', class_name: 'Add', config: {}, inputs: ['bn_b', 'conv_b'] },
    { name: 'concat', class_name: 'Concatenate', config: { axis: -1 }, inputs: ['add', 'pool_avg'] },
    { name: 'drop', class_name: 'Dropout', config: { rate: 0.5 }, inputs: ['concat'] },
    { name: 'flat', class_name: 'Flatten', config: { data_format: 'channels_last' }, inputs: ['drop'] },
    { name: 'dense_1', class_name: 'Dense', config: { units: 6, activation: 'relu', use_bias: true }, inputs: ['flat'], weights: { kernel: [1280, 6], bias: [6] } },
    { name: 'sig', class_name: 'Activation', config: { activation: 'sigmoid' }, inputs: ['dense_1'] },
    { name: 'dense_2', class_name: 'Dense', config: { units: 3, activation: 'softmax', use_bias: false }, inputs: ['sig'], weights: { kernel: [6, 3] } },
  ];
}

const CUTS = ['relu_a', 'bn_b', 'gap', 'gmp', 'pool_max', 'pool_max_valid', 'pool_avg_valid', 'concat', 'drop', 'flat', 'dense_2'];

function randomInput(seed: number): { nhwc: Float32Array; nchw: Float32Array } {
  const rnd = seeded(seed);
  const nhwc = Float32Array.from({ length: SIZE * SIZE * 3 }, () => rnd() * 2 - 1);
  const nchw = new Float32Array(nhwc.length);
  for (let p = 0; p < SIZE * SIZE; p++) for (let c = 0; c < 3; c++) nchw[c * SIZE * SIZE + p] = nhwc[p * 3 + c]!;
  return { nhwc, nchw };
}

async function expectParity(art: ReturnType<typeof syntheticModel>, cuts: string[], storage: 'float32' | 'uint8') {
  const converted = convertLayersModel(art, { outputs: cuts, weightStorage: storage });
  const x = randomInput(7);
  const ref = await tfjsOutputs(art, cuts, { data: x.nhwc, size: SIZE });
  const got = await onnxOutputs(converted.onnx, converted.inputName, cuts, { data: x.nchw, size: SIZE });
  for (const cut of cuts) {
    const r = ref.get(cut)!;
    const g = got.get(cut)!;
    expect(g.dims, cut).toEqual(r.dims);
    const { diff, scale } = maxDiff(r.data, g.data);
    expect(scale, `${cut} is not all zeros`).toBeGreaterThan(0);
    expect(diff, `${cut}: max |onnx - tfjs|`).toBeLessThan(1e-4 * (1 + scale));
  }
  return converted;
}

describe('convertLayersModel on a synthetic model with every supported layer', () => {
  it('matches tfjs at every cut (float32 weights, batch norm folded into conv_a)', async () => {
    const dir = await writeTfjsDir(syntheticModel(everyLayer()), 2);
    try {
      const art = await readTfjsModelDir(dir.dir);
      const converted = await expectParity(art, CUTS, 'float32');
      expect(converted.outputs.find((o) => o.name === 'pool_max')).toEqual({ name: 'pool_max', channels: 32, stride: 8, shape: [1, 32, 2, 3] });
      // bn_a was folded: no Mul/Add of its own.
      const graph = onnxProto.onnx.ModelProto.decode(converted.onnx).graph as onnxProto.onnx.GraphProto;
      expect(graph.node.some((n) => n.name!.startsWith('bn_a'))).toBe(false);
      expect(graph.node.some((n) => n.name!.startsWith('bn_b'))).toBe(true);
    } finally {
      await dir.cleanup();
    }
  });

  it('matches tfjs with uint8-quantised weights kept as uint8 in the graph, and unfolded batch norm when the conv is itself a cut', async () => {
    await expectParity(syntheticModel(everyLayer(), { seed: 3, quantise: true }), ['conv_a', ...CUTS], 'uint8');
  });

  it('prunes everything the cut does not need, so a middle cut carries no classifier weights', () => {
    const art = syntheticModel(everyLayer());
    const converted = convertLayersModel(art, { outputs: ['relu_a'] });
    expect(converted.layers).toEqual(['input_1', 'pad', 'conv_a', 'bn_a', 'relu_a']);
    const graph = onnxProto.onnx.ModelProto.decode(converted.onnx).graph as onnxProto.onnx.GraphProto;
    expect(graph.initializer.map((t) => t.name).sort(), JSON.stringify(graph.initializer.map((t) => t.name))).toEqual(['conv_a/B', 'conv_a/W', 'pad/pads', 'relu_a/max', 'relu_a/min']);
    expect(graph.output.map((o) => o.name)).toEqual(['relu_a']);
  });
});

describe('clear errors', () => {
  const withLayer = (extra: SyntheticLayer) => {
    const layers = everyLayer().slice(0, 5);
    return syntheticModel([...layers, extra]);
  };

  it('names an unsupported layer on the path to a cut, and ignores one that is not', () => {
    const art = withLayer({ name: 'up_1', class_name: 'UpSampling2D', config: { size: [2, 2] }, inputs: ['relu_a'] });
    expect(() => convertLayersModel(art, { outputs: ['up_1'] })).toThrow(ConvertError);
    expect(() => convertLayersModel(art, { outputs: ['up_1'] })).toThrow(/unsupported layer up_1 \(UpSampling2D\)/);
    expect(convertLayersModel(art, { outputs: ['relu_a'] }).outputs[0]!.name).toBe('relu_a');
  });

  it('names an unknown cut layer and an unsupported activation', () => {
    const art = withLayer({ name: 'act_x', class_name: 'Activation', config: { activation: 'selu' }, inputs: ['relu_a'] });
    expect(() => convertLayersModel(art, { outputs: ['block_99'] })).toThrow(/output layer block_99 is not in the model/);
    expect(() => convertLayersModel(art, { outputs: ['act_x'] })).toThrow(/act_x: unsupported activation "selu"/);
  });

  it('names a missing weight shard', async () => {
    const dir = await writeTfjsDir(syntheticModel(everyLayer()), 3);
    try {
      await rm(path.join(dir.dir, dir.paths[1]!));
      await expect(readTfjsModelDir(dir.dir)).rejects.toThrow(/weight shard group1-shard2of3\.bin .*cannot be read/);
    } finally {
      await dir.cleanup();
    }
  });

  it('names the first weight a truncated weight file cannot hold', async () => {
    const art = syntheticModel(everyLayer());
    const dir = await writeTfjsDir(art, 1);
    try {
      const file = path.join(dir.dir, dir.paths[0]!);
      const full = (await readFile(file)).byteLength;
      // The last weight is dense_2/kernel (18 floats = 72 bytes): cut into it.
      await truncate(file, full - 40);
      const truncated = await readTfjsModelDir(dir.dir);
      expect(() => decodeWeights(truncated)).toThrow(/truncated: dense_2\/kernel needs bytes/);
      expect(() => convertLayersModel(truncated, { outputs: ['relu_a'] })).toThrow(ConvertError);
    } finally {
      await dir.cleanup();
    }
  });

  it('names a weight the manifest lacks', () => {
    const art = syntheticModel(everyLayer());
    art.weightSpecs = art.weightSpecs.map((w) => (w.name === 'conv_a/bias' ? { ...w, name: 'conv_a/bias_renamed' } : w));
    expect(() => convertLayersModel(art, { outputs: ['relu_a'] })).toThrow(/layer conv_a: weight conv_a\/bias is missing/);
  });
});
