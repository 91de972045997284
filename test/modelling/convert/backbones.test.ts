// The committed built-in backbones: valid manifests, reproducible from nsfwjs, and their ONNX
// features equal the original tfjs model's on a real ELPV cell at every offered layer.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { BackboneManifestSchema, type BackboneManifest } from '../../../src/modelling/backbones/manifest.js';
import { BUILTIN_BACKBONES, buildBuiltinBackbone, sha256 } from '../../../src/modelling/convert/builtin.js';
import { readNsfwjsModel } from '../../../src/modelling/convert/nsfwjs.js';
import { fixturesDir, imageTensors, maxDiff, onnxOutputs, repoRoot, tfjsOutputs } from './helpers.js';

async function committed(name: string): Promise<{ dir: string; manifest: BackboneManifest; onnx: Uint8Array }> {
  const dir = path.join(repoRoot, 'models/backbones', name);
  const manifest = JSON.parse(await readFile(path.join(dir, 'backbone.json'), 'utf8')) as BackboneManifest;
  return { dir, manifest, onnx: await readFile(path.join(dir, 'backbone.onnx')) };
}

describe.each(BUILTIN_BACKBONES.map((s) => [s.name, s] as const))('built-in backbone %s', (name, spec) => {
  it('has a valid manifest whose hash, input and layers agree with the graph', async () => {
    const { dir, manifest, onnx } = await committed(name);
    expect([...Value.Errors(BackboneManifestSchema, manifest)].map((e) => `${e.path}: ${e.message}`)).toEqual([]);
    expect(manifest.sha256).toBe(sha256(onnx));
    expect(manifest.defaultLayers.every((l) => manifest.layers.some((m) => m.name === l))).toBe(true);
    expect((await stat(path.join(dir, 'LICENSE'))).size).toBeGreaterThan(0);
    // Small enough to commit.
    expect(onnx.byteLength).toBeLessThan(5.5e6);
    const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
    try {
      expect(session.inputNames).toEqual([manifest.input.name]);
      expect([...session.outputNames].sort()).toEqual(manifest.layers.map((l) => l.name).sort());
    } finally {
      await session.release();
    }
  });

  it('is rebuilt byte for byte from the npm package', async () => {
    const { manifest } = await committed(name);
    expect(buildBuiltinBackbone(spec).manifest).toEqual(manifest);
  });

  it('matches the tfjs model on a real poly cell at every offered layer', async () => {
    const { manifest, onnx } = await committed(name);
    const size = manifest.input.size;
    const x = await imageTensors(path.join(fixturesDir, 'cell0076.png'), size, manifest.input);
    const layers = manifest.layers.map((l) => l.name);
    const ref = await tfjsOutputs(readNsfwjsModel(spec.source), layers, { data: x.nhwc, size });
    const got = await onnxOutputs(onnx, manifest.input.name, layers, { data: x.nchw, size });
    for (const layer of manifest.layers) {
      const r = ref.get(layer.name)!;
      const g = got.get(layer.name)!;
      expect(g.dims, layer.name).toEqual(r.dims);
      expect(g.dims[1], `${layer.name} channels`).toBe(layer.channels);
      expect(Math.round(size / g.dims[2]! / layer.stride), `${layer.name} stride`).toBe(1);
      const { diff, scale } = maxDiff(r.data, g.data);
      expect(scale, `${layer.name} is not all zeros`).toBeGreaterThan(0.1);
      expect(diff, `${layer.name}: max |onnx - tfjs| (max |tfjs| ${scale})`).toBeLessThan(1e-4 * (1 + scale));
    }
  });
});
