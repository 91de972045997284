// `visor backbone convert` on a synthetic tfjs model folder: writes a backbone folder that
// validates and runs; a bad model exits non-zero with the reason.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backboneConvertCommand } from '../../../src/cli/backbone.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../../src/modelling/backbones/manifest.js';
import { syntheticModel, writeTfjsDir, type SyntheticLayer } from './helpers.js';

const layers: SyntheticLayer[] = [
  { name: 'image', class_name: 'InputLayer', config: { batch_input_shape: [null, 32, 32, 3] }, inputs: [] },
  { name: 'c1', class_name: 'Conv2D', config: { filters: 8, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu' }, inputs: ['image'], weights: { kernel: [3, 3, 3, 8], bias: [8] } },
  { name: 'c2', class_name: 'Conv2D', config: { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu' }, inputs: ['c1'], weights: { kernel: [3, 3, 8, 4], bias: [4] } },
  { name: 'lstm', class_name: 'LSTM', config: { units: 2 }, inputs: ['c2'] },
];

describe('visor backbone convert', () => {
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it('writes backbone.onnx + backbone.json that validate and run at another input size', async () => {
    const src = await writeTfjsDir(syntheticModel(layers));
    const out = path.join(src.dir, 'my-net');
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    try {
      await backboneConvertCommand({ tfjs: src.dir, out, layers: 'c1,c2', inputSize: 64, scaling: 'imagenet', channels: 'RGB', weights: 'float32' });
      expect(process.exitCode).toBeUndefined();
      const manifest = JSON.parse(await readFile(path.join(out, 'backbone.json'), 'utf8')) as BackboneManifest;
      expect(Value.Check(BackboneManifestSchema, manifest)).toBe(true);
      expect(manifest.name).toBe('my-net');
      expect(manifest.input).toMatchObject({ name: 'image', size: 64, mean: [0.485, 0.456, 0.406] });
      expect(manifest.layers).toEqual([
        { name: 'c1', channels: 8, stride: 2 },
        { name: 'c2', channels: 4, stride: 4 },
      ]);
      const session = await ort.InferenceSession.create(path.join(out, 'backbone.onnx'), { executionProviders: ['cpu'] });
      const res = await session.run({ image: new ort.Tensor('float32', new Float32Array(3 * 48 * 48).fill(0.5), [1, 3, 48, 48]) });
      expect(res.c2!.dims).toEqual([1, 4, 12, 12]);
      await session.release();
    } finally {
      await rm(out, { recursive: true, force: true });
      await src.cleanup();
    }
  });

  it('fails with exit code 1 naming the unsupported layer', async () => {
    const src = await writeTfjsDir(syntheticModel(layers));
    const err = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    try {
      await backboneConvertCommand({ tfjs: src.dir, out: path.join(src.dir, 'out'), layers: 'lstm', scaling: 'tf', channels: 'RGB', weights: 'float32' });
      expect(process.exitCode).toBe(1);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/unsupported layer lstm \(LSTM\)/);
    } finally {
      await src.cleanup();
    }
  });
});
