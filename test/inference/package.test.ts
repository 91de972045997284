import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelPackageError, VisorError } from '../../src/common/errors.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import { anomalyModel, baseManifest, classificationModel, rgbImage, sha256, tempDirs, writePackage } from './helpers.js';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

/** The error a promise rejects with, so a test can check its class and message together. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('loadModelPackage', () => {
  it('loads a valid package and applies manifest defaults', async () => {
    const onnx = anomalyModel();
    const { scale: _scale, ...input } = baseManifest('anomaly').input;
    const dir = await writePackage(await dirs.make(), onnx, { ...baseManifest('anomaly'), input, labels: undefined });
    const pkg = await loadModelPackage(dir);
    expect(pkg.dir).toBe(dir);
    expect(pkg.onnxPath).toBe(path.join(dir, 'model.onnx'));
    expect(pkg.manifest.sha256).toBe(sha256(onnx));
    expect(pkg.manifest.input.scale).toBeCloseTo(1 / 255, 10);
    expect(pkg.manifest.labels).toEqual([]);
  });

  it('refuses a missing folder', async () => {
    const dir = path.join(await dirs.make(), 'nope');
    const err = await rejection(loadModelPackage(dir));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain(`${dir} does not exist`);
  });

  it('refuses a folder without model.json', async () => {
    const dir = await writePackage(await dirs.make(), anomalyModel(), baseManifest('anomaly'));
    await rm(path.join(dir, 'model.json'));
    const err = await rejection(loadModelPackage(dir));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toMatch(/has no readable model\.json/);
  });

  it('refuses malformed JSON', async () => {
    const dir = await writePackage(await dirs.make(), anomalyModel(), '{ "name": "x", ');
    const err = await rejection(loadModelPackage(dir));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('model.json is not valid JSON');
  });

  it('lists every schema problem with its path', async () => {
    const manifest = {
      ...baseManifest('anomaly'),
      task: 'segmentation',
      input: { ...baseManifest('anomaly').input, width: 0, channels: 'RGBA' },
      thresholds: { defect: 0.5 },
      extra: true,
    };
    const err = await rejection(loadModelPackage(await writePackage(await dirs.make(), anomalyModel(), manifest)));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('task: must be one of "anomaly", "classification", "detection" (got "segmentation")');
    expect(err.message).toContain('input.width:');
    expect(err.message).toContain('input.channels: must be one of "RGB", "BGR", "GRAY"');
    expect(err.message).toContain('thresholds.uncertainBand:');
    expect(err.message).toContain('extra: Unexpected property');
  });

  it('refuses manifests that are schema-valid but inconsistent', async () => {
    const manifest = {
      ...baseManifest('classification'),
      outputs: {},
      defectLabels: ['scratch'],
      input: { ...baseManifest('classification').input, mean: [0, 0] },
    };
    const err = await rejection(loadModelPackage(await writePackage(await dirs.make(), anomalyModel(), manifest)));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('input.mean: has 2 values but channels "RGB" has 3');
    expect(err.message).toContain('outputs.logits: a classification model needs outputs.logits');
    expect(err.message).toContain('defectLabels: "scratch" not in labels');
  });

  it('refuses a package without model.onnx', async () => {
    const dir = await writePackage(await dirs.make(), undefined, { ...baseManifest('anomaly'), sha256: 'a'.repeat(64) });
    const err = await rejection(loadModelPackage(dir));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('has no model.onnx');
  });

  it('refuses a model.onnx whose sha256 is not the manifest one', async () => {
    const onnx = anomalyModel();
    const dir = await writePackage(await dirs.make(), onnx, baseManifest('anomaly'));
    const tampered = anomalyModel({ pool: 8 });
    await writeFile(path.join(dir, 'model.onnx'), tampered);
    const err = await rejection(loadModelPackage(dir));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain(`model.onnx sha256 is ${sha256(tampered)} but model.json says ${sha256(onnx)}`);
  });
});

describe('createInferencer refuses a graph that disagrees with its manifest', () => {
  async function create(onnx: Uint8Array, manifest: object, executionProviders = ['cpu']) {
    const pkg = await loadModelPackage(await writePackage(await dirs.make(), onnx, manifest));
    return createInferencer({ pkg, executionProviders, threads: 1, log: silentLogger() });
  }

  it('names the manifest input and the graph inputs when the input name differs', async () => {
    const manifest = baseManifest('anomaly', { input: { ...baseManifest('anomaly').input, name: 'images' } });
    const err = await rejection(create(anomalyModel(), manifest));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('model.json input "images" is not in the graph (graph inputs: "x")');
  });

  it('names both shapes when the input size differs', async () => {
    const manifest = baseManifest('anomaly', { input: { ...baseManifest('anomaly').input, width: 64, height: 48 } });
    const err = await rejection(create(anomalyModel(), manifest));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toMatch(/model\.json input "x" is \[1,3,48,64\].*but the graph input is \[1,3,32,32\]/);
  });

  it('refuses GRAY when the graph wants three channels', async () => {
    const manifest = baseManifest('anomaly', { input: { ...baseManifest('anomaly').input, channels: 'GRAY', mean: [0], std: [1] } });
    const err = await rejection(create(anomalyModel(), manifest));
    expect(err.message).toMatch(/is \[1,1,32,32\].*but the graph input is \[1,3,32,32\]/);
  });

  it('accepts dynamic input dims and feeds them frames at the manifest size', async () => {
    const inf = await create(anomalyModel({ inputDims: ['batch', 3, 'height', 'width'] }), baseManifest('anomaly'));
    try {
      // A 64x64 frame, white in its top-right quadrant: at the manifest's 32x32, heat-map rows 0-3, columns 4-7.
      const { output } = await inf.infer(rgbImage(64, 64, (x, y) => (x >= 32 && y < 32 ? [255, 255, 255] : [0, 0, 0])));
      const hm = output.heatMap!;
      expect([hm.width, hm.height]).toEqual([8, 8]);
      expect([hm.data[7], hm.data[1 * 8 + 6], hm.data[0], hm.data[6 * 8 + 6]].map((v) => Number(v.toFixed(3)))).toEqual([1, 1, 0, 0]);
      expect(output.score).toBeCloseTo(1, 3);
    } finally {
      await inf.close();
    }
  });

  it('names a missing output and the outputs the graph has', async () => {
    const manifest = baseManifest('anomaly', { outputs: { score: 'score', heatmap: 'anomaly_map' } });
    const err = await rejection(create(anomalyModel(), manifest));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('model.json output heatmap "anomaly_map" is not in the graph (graph outputs: "heatmap", "score")');
  });

  it('refuses a logits dimension that is not the number of labels', async () => {
    const manifest = baseManifest('classification', { labels: ['good', 'crack', 'finger', 'dark'] });
    const err = await rejection(create(classificationModel([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), manifest));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('has 3 classes but model.json lists 4 labels (good, crack, finger, dark)');
  });

  it('catches a labels mismatch hidden behind a dynamic output dim at warm-up', async () => {
    const manifest = baseManifest('classification', { labels: ['good', 'crack'] });
    const onnx = classificationModel([[1, 0, 0], [0, 1, 0], [0, 0, 1]], { dynamicLogits: true });
    const err = await rejection(create(onnx, manifest));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('logits output "logits" has 3 values (shape [1,3]) but model.json lists 2 labels');
  });

  it('fails at creation, not silently on CPU, when CUDA is configured on a machine without it', async () => {
    const err = await rejection(create(anomalyModel(), baseManifest('anomaly'), ['cuda', 'cpu']));
    expect(err).toBeInstanceOf(VisorError);
    expect(err.message).toMatch(/execution provider "cuda" \(CUDAExecutionProvider\) could not be started/);
  });

  it('refuses providers this platform does not have, and unknown names', async () => {
    const dml = await rejection(create(anomalyModel(), baseManifest('anomaly'), ['dml']));
    expect(dml).toBeInstanceOf(VisorError);
    expect(dml.message).toMatch(/"dml" \(DmlExecutionProvider\) is not available on this platform \(onnxruntime-node here offers: cpu/);
    const bogus = await rejection(create(anomalyModel(), baseManifest('anomaly'), ['gpu']));
    expect(bogus.message).toContain('unknown execution provider "gpu"');
  });

  it('reports an ONNX file onnxruntime cannot parse as a package error', async () => {
    const junk = new TextEncoder().encode('not an onnx model');
    const err = await rejection(create(junk, baseManifest('anomaly')));
    expect(err).toBeInstanceOf(ModelPackageError);
    expect(err.message).toContain('could not be loaded by onnxruntime');
  });
});
