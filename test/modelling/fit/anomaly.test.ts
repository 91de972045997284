// The parts of the anomaly score beside the nearest-neighbour head, on real ELPV cells: the
// texture modes that give each kind of good cell its own threshold, the neighbourhood
// normalisation that divides each image's parts by those of its most similar good images, and the global Gaussian.
// Each is checked in TypeScript (what the fit uses) and in the ONNX graph (what ships).
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBackbone } from '../../../src/modelling/backbones/load.js';
import { createFeatureExtractor, FEATURES, sessionOptions, type FeatureExtractor } from '../../../src/modelling/fit/features.js';
import { appendGlobal, fitGlobal, globalDistance } from '../../../src/modelling/fit/global.js';
import { appendMode, fitModes, MIN_SEPARATION, modeOf } from '../../../src/modelling/fit/modes.js';
import { appendNeighbourhood, descriptorOf, divisorsOf, fitDescriptors, NEIGHBOURS, neighboursOf, type Neighbourhood } from '../../../src/modelling/fit/neighbours.js';
import { emptyModel, encodeModel, floatValueInfo, graphBuilder, graphOf } from '../../../src/modelling/fit/onnx-graph.js';
import { imageFromFile } from '../../../src/inference/index.js';
import { FIT_DEFAULTS } from '../../../src/modelling/fit/index.js';
import { ANOMALY_SCORE, appendAnomaly, calibrated, type AnomalyCalibration } from '../../../src/modelling/fit/anomaly.js';
import { fitHeads, type HeadPlan } from '../../../src/modelling/fit/cross-fit.js';
import { ELPV, elpvRows, type Row } from './helpers.js';

let extractor: FeatureExtractor;
let mono: Float32Array[];
let poly: Float32Array[];
let polyOnly: Float32Array[];
let C: number;
let dims: [number, number, number, number];

const features = async (rows: readonly Row[]): Promise<Float32Array[]> => {
  const out: Float32Array[] = [];
  for (const r of rows) out.push((await extractor.extract(await imageFromFile(path.join(ELPV, r.file)))).features);
  return out;
};

/** Runs a graph built on the features input and returns its one output. */
async function runGraph(build: (b: ReturnType<typeof graphBuilder>) => string, f: Float32Array, type: 'float' | 'int64' = 'float'): Promise<number> {
  const model = emptyModel(13, FEATURES, dims);
  const out = build(graphBuilder(model, 'test'));
  graphOf(model).output = [type === 'float' ? floatValueInfo(out, [1]) : { name: out, type: { tensorType: { elemType: 7 } } }];
  const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
  try {
    const r = await session.run({ [FEATURES]: new ort.Tensor('float32', f, dims) });
    return Number(r[out]!.data[0]);
  } finally {
    await session.release();
  }
}

beforeAll(async () => {
  const backbone = await resolveBackbone(FIT_DEFAULTS.backbone);
  extractor = await createFeatureExtractor({ backbone, layers: FIT_DEFAULTS.layers, inputSize: 256, input: backbone.input }, 1);
  const good = (await elpvRows()).filter((r) => r.label === 'good');
  mono = await features(good.filter((r) => r.cellType === 'mono').slice(0, 25));
  poly = await features(good.filter((r) => r.cellType === 'poly').slice(0, 25));
  polyOnly = [...poly, ...(await features(good.filter((r) => r.cellType === 'poly').slice(25, 60)))];
  C = extractor.layout.channels;
  dims = [1, C, extractor.layout.height, extractor.layout.width];
  await extractor.close();
});

describe('texture modes', () => {
  it('split good mono cells from good poly cells, and the graph picks the mode the fit computed', async () => {
    const all = [...mono, ...poly];
    const { modes, assign, separation } = fitModes(all, C, 2, FIT_DEFAULTS.seed);
    expect(separation).toBeGreaterThanOrEqual(MIN_SEPARATION);
    // Which mode is "mono" is arbitrary: count agreement with the kind either way round.
    const agree = assign.filter((m, i) => m === (i < mono.length ? 0 : 1)).length;
    const purity = Math.max(agree, all.length - agree) / all.length;
    expect(purity).toBeGreaterThanOrEqual(0.9);
    for (const f of all) {
      expect(await runGraph((b) => appendMode(b, FEATURES, modes)!, f, 'int64')).toBe(modeOf(modes, f));
    }
  });

  it('are not used for one kind of cell: k-means splits it, but the halves are not distinct', () => {
    // Giving each half of one kind its own threshold would normalise real anomalies away.
    const { separation } = fitModes(polyOnly, C, 2, FIT_DEFAULTS.seed);
    expect(separation).toBeLessThan(MIN_SEPARATION);
  });

  it('are the same for the same images and seed', () => {
    const a = fitModes([...mono, ...poly], C, 2, 7);
    const b = fitModes([...mono, ...poly], C, 2, 7);
    expect(b.assign).toEqual(a.assign);
  });
});

describe('global Gaussian over max-pooled features', () => {
  it('puts a cell with a painted dark patch far outside the good cells, the same in the graph', async () => {
    const fit = fitGlobal(mono.slice(0, 20), C);
    const held = mono.slice(20).map((f) => globalDistance(fit, f));
    // A held-out good mono cell with a dark rectangle over a fifth of it (an inactive region).
    const file = path.join(ELPV, (await elpvRows()).filter((r) => r.label === 'good' && r.cellType === 'mono')[22]!.file);
    const dark = await sharp(file)
      .composite([{ input: { create: { width: 120, height: 100, channels: 3, background: { r: 10, g: 10, b: 10 } } }, left: 90, top: 150 }])
      .png()
      .toBuffer();
    const tmp = path.join((await import('node:os')).tmpdir(), `visor-dark-${process.pid}.png`);
    await sharp(dark).toFile(tmp);
    const backbone = await resolveBackbone(FIT_DEFAULTS.backbone);
    const ex = await createFeatureExtractor({ backbone, layers: FIT_DEFAULTS.layers, inputSize: 256, input: backbone.input }, 1);
    const darkFeatures = (await ex.extract(await imageFromFile(tmp))).features;
    await ex.close();
    const d = globalDistance(fit, darkFeatures);
    expect(d).toBeGreaterThan(1.5 * Math.max(...held));
    const inGraph = await runGraph((b) => appendGlobal(b, FEATURES, fit), darkFeatures);
    expect(inGraph).toBeCloseTo(d, 1);
    expect(Math.abs(inGraph - d) / d).toBeLessThan(1e-3);
  });
});

describe('neighbourhood normalisation', () => {
  it('divides a cell by the mean over good cells of its own kind, the same in the graph', async () => {
    // References: 20 mono and 20 poly cells, whose part values are 1 and 3; held out: 5 of each.
    const refs = [...mono.slice(0, 20), ...poly.slice(0, 20)];
    const descriptors = fitDescriptors(refs, C);
    const values = Float32Array.from(refs, (_, i) => (i < 20 ? 1 : 3));
    const goodRaw = [...values].map((v) => ({ local: v, global: 10 * v }));
    const nb: Neighbourhood = { normalise: 'patch', descriptors, values: { local: values } };
    const graphDivisor = (f: Float32Array): Promise<number> => runGraph((b) => appendNeighbourhood(b, FEATURES, nb).local!, f);
    for (const [kind, cells, expected] of [['mono', mono.slice(20), 1], ['poly', poly.slice(20), 3]] as const) {
      for (const f of cells) {
        const nbrs = neighboursOf(descriptors, descriptorOf(descriptors, f));
        expect(nbrs).toHaveLength(NEIGHBOURS);
        const div = divisorsOf('patch', nbrs, goodRaw);
        expect(div.local, kind).toBeCloseTo(expected, 0);
        expect(div.global, 'the Gaussian is left alone').toBe(1);
        expect(await graphDivisor(f), kind).toBeCloseTo(div.local, 4);
      }
    }
    expect(divisorsOf('all', neighboursOf(descriptors, descriptorOf(descriptors, poly[20]!)), goodRaw).global).toBeCloseTo(30, -1);
  });

  it('never counts a good image as its own neighbour when told to skip it', () => {
    const descriptors = fitDescriptors(mono, C);
    const self = 3;
    expect(neighboursOf(descriptors, descriptorOf(descriptors, mono[self]!))[0]).toBe(self);
    expect(neighboursOf(descriptors, descriptorOf(descriptors, mono[self]!), (r) => r === self)).not.toContain(self);
  });
});

describe('calibrated score with two modes', () => {
  it('raises each cell’s normalised score to its mode’s exponent in the graph, as the fit computes it', async () => {
    const goods = [...mono.slice(0, 20), ...poly.slice(0, 20)];
    const { modes } = fitModes(goods, C, 2, FIT_DEFAULTS.seed);
    const layout = { channels: C, height: dims[2], width: dims[3], layers: [] };
    const plan: HeadPlan = { layout, projectionDims: C, opset: 13, heads: 'local', perPosition: 64, bankSize: 64, topK: 3, seed: 1 };
    const heads = fitHeads(plan, goods.map((f, i) => ({ file: `good${i}`, features: f, projected: f })));
    const base: AnomalyCalibration = { local: Float32Array.of(2, 3), global: Float32Array.of(20, 30), combined: Float32Array.of(1.5, 1.2), globalWeight: 0.5 };
    const exponent = Float32Array.of(0.7, 1.6);
    const scoreIn = async (cal: AnomalyCalibration, f: Float32Array): Promise<number> => {
      const model = emptyModel(13, FEATURES, dims);
      appendAnomaly(model, FEATURES, layout, heads, heads.global, modes, cal);
      graphOf(model).output = [floatValueInfo(ANOMALY_SCORE, [1])];
      const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
      try {
        return Number((await session.run({ [FEATURES]: new ort.Tensor('float32', f, dims) }))[ANOMALY_SCORE]!.data[0]);
      } finally {
        await session.release();
      }
    };
    const seen = new Set<number>();
    for (const f of [...mono.slice(20), ...poly.slice(20)]) {
      const mode = modeOf(modes, f);
      seen.add(mode);
      const normalised = await scoreIn(base, f);
      const score = await scoreIn({ ...base, exponent }, f);
      expect(score).toBeCloseTo(calibrated({ ...base, exponent }, mode, normalised * base.combined[mode]!), 4);
      expect(score).toBeCloseTo(normalised ** exponent[mode]!, 4);
    }
    expect([...seen].sort()).toEqual([0, 1]);
  });
});
