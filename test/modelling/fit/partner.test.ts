// The partner backbone of unsupervised models: PP-LCNet's own patch heads and Gaussian in the same
// graph as MobileNetV2's, fed from the same input, the score the mean of the two calibrated scores.
// PP-LCNet's graph is opset 11 and MobileNetV2's 13, so it is declared at 13 first (liftOpset).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/log.js';
import { createInferencer, createPreprocessor, imageFromFile, loadModelPackage } from '../../../src/inference/index.js';
import { resolveBackbone } from '../../../src/modelling/backbones/load.js';
import { createFeatureExtractor, sessionOptions } from '../../../src/modelling/fit/features.js';
import { fitModel, type FitResult } from '../../../src/modelling/fit/index.js';
import { decodeModel, emptyModel, encodeModel, floatValueInfo, graphBuilder, graphOf, liftOpset, opsetOf } from '../../../src/modelling/fit/onnx-graph.js';
import { FIXTURES } from '../../helpers/paths.js';
import { ELPV, elpvRows, linkFolder, shiftedTextures } from './helpers.js';

const log = silentLogger();
let tmp: string;
let goodDir: string;
let withPartner: FitResult;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'visor-partner-'));
  const good = (await elpvRows()).filter((r) => r.label === 'good');
  goodDir = await linkFolder(path.join(tmp, 'good'), [...good.filter((r) => r.cellType === 'mono').slice(0, 15), ...good.filter((r) => r.cellType === 'poly').slice(0, 15)]);
  // Both patch heads and neighbourhood normalisation: every part the partner can have.
  // Named, so it joins on these aligned cells too.
  withPartner = await fitModel({ goodDir, outDir: path.join(tmp, 'partner'), name: 'partner', inputSize: 128, head: 'both', normalise: 'patch', search: false, partnerBackbone: 'pplcnet', threads: 1 }, { log });
}, 120_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('liftOpset', () => {
  it('declares PP-LCNet at opset 13 with the features it computes at 11', async () => {
    const pplcnet = await resolveBackbone('pplcnet');
    expect(opsetOf(decodeModel(pplcnet.onnx))).toBe(11);
    const spec = { backbone: pplcnet, layers: pplcnet.defaultLayers, inputSize: 128, input: pplcnet.input };
    const own = await createFeatureExtractor(spec, 1);
    const lifted = await createFeatureExtractor({ ...spec, opset: 13 }, 1);
    try {
      const cell = await imageFromFile(path.join(ELPV, (await elpvRows()).find((r) => r.label === 'defect')!.file));
      const a = (await own.extract(cell)).features;
      const b = (await lifted.extract(cell)).features;
      expect(b).toHaveLength(a.length);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 4);
    } finally {
      await own.close();
      await lifted.close();
    }
  });

  it('refuses a graph with an operator that opset 13 defines differently, naming it', () => {
    const model = emptyModel(11, 'x', [1, 4]);
    graphBuilder(model, 't').reduce('ReduceSum', 'x', [1], 0, 'y'); // axes: an attribute at 11, an input at 13
    graphOf(model).output = [floatValueInfo('y', [1])];
    expect(() => liftOpset(model, 13, 'tiny')).toThrow(/tiny uses ONNX opset 11 and operators ReduceSum/);
    expect(() => liftOpset(model, 10, 'tiny')).toThrow(/cannot be brought to opset 10/);
    expect(opsetOf(model)).toBe(11);
  });
});

describe('visor fit with the partner backbone (the default without labels)', () => {
  it('records the partner in model.json and says how the score is made', async () => {
    const partner = (withPartner.manifest.provenance?.backbone as { partner?: { name: string; grid: number[]; inputSize: number; meanPercentile: number } }).partner;
    expect(partner).toMatchObject({ name: 'pplcnet', grid: [4, 4], inputSize: 128 });
    // Both scores are 1.0 at their own threshold, so their mean's percentile is near 1.
    expect(partner!.meanPercentile).toBeGreaterThan(0.5);
    expect(partner!.meanPercentile).toBeLessThan(1.5);
    expect(withPartner.manifest.thresholds.calibration?.method).toMatch(/partner backbone pplcnet .* mean of the two calibrated scores/);
    expect(withPartner.manifest.description).toMatch(/mobilenet_v2 features with pplcnet's as a partner/);
  });

  it('scores an image as the mean of both backbones’ calibrated scores over that percentile, as the runtime runs it', async () => {
    const { meanPercentile } = (withPartner.manifest.provenance?.backbone as { partner: { meanPercentile: number } }).partner;
    // The shipped graph with its two calibrated parts as extra outputs.
    const model = decodeModel(await readFile(path.join(withPartner.dir, 'model.onnx')));
    const parts = ['visor.anomaly.own_score', 'visor.partner/visor.anomaly.score'];
    graphOf(model).output.push(...parts.map((p) => floatValueInfo(p, [1])));
    const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
    const pkg = await loadModelPackage(withPartner.dir);
    const inferencer = await createInferencer({ pkg, threads: 1, log });
    const pre = createPreprocessor(pkg.manifest.input, withPartner.geometry);
    try {
      const scores: Record<string, number[]> = { good: [], defect: [] };
      const rows = (await readFile(path.join(FIXTURES, 'labels.csv'), 'utf8')).trim().split(/\r?\n/).slice(1).map((l) => l.split(','));
      for (const [file, , , label] of rows) {
        if (label !== 'good' && label !== 'defect') continue;
        const image = await imageFromFile(path.join(FIXTURES, file!));
        await pre.run(image);
        const out = await session.run({ [pkg.manifest.input.name]: new ort.Tensor('float32', pre.data, [...pre.dims]) });
        const [own, other] = parts.map((p) => (out[p]!.data as Float32Array)[0]!);
        const score = (out.score!.data as Float32Array)[0]!;
        expect(own).not.toBeCloseTo(other!, 3); // two different networks
        expect(score).toBeCloseTo((own! + other!) / 2 / meanPercentile, 5);
        expect((await inferencer.infer(image)).output.score).toBeCloseTo(score, 5);
        scores[label]!.push(score);
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(scores.defect!)).toBeGreaterThan(mean(scores.good!));
    } finally {
      await session.release();
      await inferencer.close();
    }
  });

  it('joins by default on a surface that is not aligned, and not on aligned cells, saying why', async () => {
    const cells = await fitModel({ goodDir, outDir: path.join(tmp, 'cells'), name: 'cells', inputSize: 128, search: false, threads: 1 }, { log });
    expect((cells.manifest.provenance?.backbone as { partner?: unknown }).partner).toBeUndefined();
    expect(cells.notes.join('\n')).toMatch(/partner backbone pplcnet not used: aligned parts \(position dependence 0\.\d+ ≥ 0\.15\)/);
    const textures = await shiftedTextures(path.join(tmp, 'textures'), 30, 5, 128);
    const surface = await fitModel({ goodDir: textures, outDir: path.join(tmp, 'surface'), name: 'surface', inputSize: 128, search: false, threads: 1 }, { log });
    expect((surface.manifest.provenance?.backbone as { partner?: { name: string } }).partner).toMatchObject({ name: 'pplcnet' });
  }, 120_000);

  it('is left out with --partner-backbone none and with another backbone; an unknown one is named', async () => {
    const none = await fitModel({ goodDir, outDir: path.join(tmp, 'none'), name: 'none', inputSize: 128, search: false, partnerBackbone: 'none', threads: 1 }, { log });
    expect((none.manifest.provenance?.backbone as { partner?: unknown }).partner).toBeUndefined();
    expect(none.manifest.thresholds.calibration?.method).not.toMatch(/partner/);
    const size = async (dir: string): Promise<number> => (await readFile(path.join(dir, 'model.onnx'))).length;
    expect(await size(withPartner.dir)).toBeGreaterThan(await size(none.dir));
    const other = await fitModel({ goodDir, outDir: path.join(tmp, 'other'), name: 'other', backbone: 'pplcnet', inputSize: 128, search: false, threads: 1 }, { log });
    expect((other.manifest.provenance?.backbone as { partner?: unknown }).partner).toBeUndefined();
    await expect(fitModel({ goodDir, outDir: path.join(tmp, 'bad'), name: 'bad', partnerBackbone: 'resnet9000' }, { log })).rejects.toThrow(/unknown backbone "resnet9000"/);
  }, 60_000);
});
