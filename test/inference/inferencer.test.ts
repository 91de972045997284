import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferencer, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { RawImage } from '../../src/common/types.js';
import { anomalyModel, baseManifest, classificationModel, constantDetectionModel, rgbImage, tempDirs, writePackage } from './helpers.js';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function inferencerFor(onnx: Uint8Array, manifest: object): Promise<Inferencer> {
  const pkg = await loadModelPackage(await writePackage(await dirs.make(), onnx, manifest));
  return createInferencer({ pkg, executionProviders: ['cpu'], threads: 1, log: silentLogger() });
}

describe('anomaly model', () => {
  let inf: Inferencer;
  beforeAll(async () => {
    // R is normalised to [-1, 1] (mean 0.5, std 0.5); G and B to [0, 1].
    const manifest = baseManifest('anomaly', {
      input: { ...baseManifest('anomaly').input, mean: [0.5, 0, 0], std: [0.5, 1, 1] },
    });
    inf = await inferencerFor(anomalyModel(), manifest);
  });
  afterAll(() => inf.close());

  it('scores a known image: heat map is the channel mean pooled 4x4, score its max', async () => {
    // Red square on heat-map cell (row 1, col 2); green 51 (0.2) everywhere; blue 0.
    const image = rgbImage(32, 32, (x, y) => [y >= 4 && y < 8 && x >= 8 && x < 12 ? 255 : 0, 51, 0]);
    const { output, preprocessMs, inferenceMs, postprocessMs } = await inf.infer(image);

    // Hot cell: (1 + 0.2 + 0) / 3 = 0.4; elsewhere (-1 + 0.2 + 0) / 3 = -0.2667.
    expect(output.heatMap).toBeDefined();
    const hm = output.heatMap!;
    expect([hm.width, hm.height]).toEqual([8, 8]);
    expect(hm.data[1 * 8 + 2]).toBeCloseTo(0.4, 5);
    expect(hm.data[0]).toBeCloseTo(-0.8 / 3, 5);
    expect(hm.data[7 * 8 + 7]).toBeCloseTo(-0.8 / 3, 5);
    expect(output.score).toBeCloseTo(0.4, 5);
    for (const ms of [preprocessMs, inferenceMs, postprocessMs]) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('resizes a frame that is not at input size, and accepts gray frames', async () => {
    const big = rgbImage(64, 48, () => [255, 51, 0]);
    const a = await inf.infer(big);
    expect(a.output.score).toBeCloseTo(0.4, 2);
    expect(Math.min(...a.output.heatMap!.data)).toBeCloseTo(0.4, 2);

    // A gray pixel feeds all three planes: (1 + 1 + 1) / 3 = 1 for 255.
    const gray: RawImage = { width: 32, height: 32, pixelFormat: 'gray', data: Buffer.alloc(32 * 32, 255) };
    expect((await inf.infer(gray)).output.score).toBeCloseTo(1, 5);
  });

  it('keeps concurrent calls from different cameras apart', async () => {
    const images = [0, 51, 102, 153, 204, 255].map((v) => rgbImage(32, 32, () => [v, v, v]));
    const results = await Promise.all(images.map((img) => inf.infer(img)));
    // R plane: (v/255 - 0.5)/0.5, G and B: v/255.
    results.forEach((r, i) => {
      const v = [0, 51, 102, 153, 204, 255][i]! / 255;
      expect(r.output.score).toBeCloseTo((2 * v - 1 + 2 * v) / 3, 5);
    });
  });

  it('runRaw runs a prepared input and checks its length', async () => {
    await expect(inf.runRaw(new Float32Array(3 * 32 * 32))).resolves.toBeUndefined();
    await expect(inf.runRaw(new Float32Array(10))).rejects.toThrow(/needs 3072/);
  });

  it('uses the max of the heat map when the graph has no score output', async () => {
    const manifest = baseManifest('anomaly', { outputs: { heatmap: 'heatmap' } });
    const onlyMap = await inferencerFor(anomalyModel(), manifest);
    try {
      const image = rgbImage(32, 32, (x, y) => (x < 4 && y < 4 ? [255, 255, 255] : [0, 0, 0]));
      const { output } = await onlyMap.infer(image);
      expect(output.score).toBeCloseTo(1, 5);
      expect(output.heatMap!.data[1]).toBeCloseTo(0, 5);
    } finally {
      await onlyMap.close();
    }
  });

  it('refuses work after close', async () => {
    const other = await inferencerFor(anomalyModel(), baseManifest('anomaly'));
    await other.close();
    await expect(other.infer(rgbImage(32, 32, () => [0, 0, 0]))).rejects.toThrow(/closed/);
  });
});

describe('classification model', () => {
  // logits = [mean R, 2 * mean G, 3 * mean B] for labels good, crack, finger.
  const weights = [
    [1, 0, 0],
    [0, 2, 0],
    [0, 0, 3],
  ];
  let inf: Inferencer;
  beforeAll(async () => {
    inf = await inferencerFor(classificationModel(weights), baseManifest('classification'));
  });
  afterAll(() => inf.close());

  const softmax = (l: number[]) => {
    const e = l.map(Math.exp);
    const s = e.reduce((a, b) => a + b);
    return e.map((v) => v / s);
  };

  it('softmaxes the logits, sorts classes and scores the top defect class', async () => {
    const { output } = await inf.infer(rgbImage(32, 32, () => [255, 102, 51])); // logits [1, 0.8, 0.6]
    const p = softmax([1, 0.8, 0.6]);
    expect(output.classes!.map((c) => c.label)).toEqual(['good', 'crack', 'finger']);
    expect(output.classes!.reduce((a, c) => a + c.score, 0)).toBeCloseTo(1, 6);
    expect(output.classes![0]!.score).toBeCloseTo(p[0]!, 5);
    // The image score ignores "good" even though it is the top class.
    expect(output.score).toBeCloseTo(p[1]!, 5);
  });

  it('ranks a defect first when its logit is highest', async () => {
    const { output } = await inf.infer(rgbImage(32, 32, () => [0, 51, 255])); // logits [0, 0.4, 3]
    const p = softmax([0, 0.4, 3]);
    expect(output.classes!.map((c) => c.label)).toEqual(['finger', 'crack', 'good']);
    expect(output.score).toBeCloseTo(p[2]!, 5);
  });

  it('uses probabilities as they are with softmax: false, and honours defectLabels', async () => {
    const manifest = baseManifest('classification', { softmax: false, defectLabels: ['finger'] });
    const probs = await inferencerFor(classificationModel(weights), manifest);
    try {
      const { output } = await probs.infer(rgbImage(32, 32, () => [51, 51, 51])); // [0.2, 0.4, 0.6]
      expect(output.classes!.map((c) => [c.label, Number(c.score.toFixed(5))])).toEqual([
        ['finger', 0.6],
        ['crack', 0.4],
        ['good', 0.2],
      ]);
      expect(output.score).toBeCloseTo(0.6, 5);
    } finally {
      await probs.close();
    }
  });
});

describe('detection model', () => {
  // Anchors: cx, cy, w, h, p(good), p(crack).
  const anchors = [
    [20, 20, 10, 10, 0.0, 0.9], // kept
    [21, 21, 10, 10, 0.0, 0.8], // same class, IoU 0.68 with the first → suppressed
    [21, 21, 10, 10, 0.7, 0.1], // other class at the same place → kept (class-wise NMS)
    [50, 50, 8, 8, 0.05, 0.6], // kept
    [10, 50, 8, 8, 0.0, 0.1], // below minScore
  ];
  const channelsFirst = (rows: number[][]) => rows[0]!.flatMap((_, k) => rows.map((r) => r[k]!));

  const expected = [
    { label: 'crack', score: 0.9, x1: 15, y1: 15, x2: 25, y2: 25 },
    { label: 'good', score: 0.7, x1: 16, y1: 16, x2: 26, y2: 26 },
    { label: 'crack', score: 0.6, x1: 46, y1: 46, x2: 54, y2: 54 },
  ];
  const rounded = (boxes: { label: string; score: number; x1: number; y1: number; x2: number; y2: number }[]) =>
    boxes.map((b) => ({ label: b.label, score: Number(b.score.toFixed(4)), x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 }));

  it('decodes YOLOv8 [1, 4+nc, N], applies class-wise NMS and scores the best defect box', async () => {
    const inf = await inferencerFor(constantDetectionModel([1, 6, 5], channelsFirst(anchors)), baseManifest('detection'));
    try {
      const { output } = await inf.infer(rgbImage(64, 64, () => [10, 20, 30]));
      expect(rounded(output.boxes!)).toEqual(expected);
      expect(output.score).toBeCloseTo(0.9, 5);
    } finally {
      await inf.close();
    }
  });

  it('also reads [1, N, 4+nc] and takes minScore from the manifest', async () => {
    const manifest = baseManifest('detection', { detection: { iouThreshold: 0.45, minScore: 0.65, maxBoxes: 5 } });
    const inf = await inferencerFor(constantDetectionModel([1, 5, 6], anchors.flat()), manifest);
    try {
      const { output } = await inf.infer(rgbImage(64, 64, () => [0, 0, 0]));
      expect(rounded(output.boxes!)).toEqual(expected.slice(0, 2));
    } finally {
      await inf.close();
    }
  });

  it('scores 0 when only non-defect boxes are found', async () => {
    const inf = await inferencerFor(constantDetectionModel([1, 6, 1], [30, 30, 10, 10, 0.9, 0.1]), baseManifest('detection'));
    try {
      const { output } = await inf.infer(rgbImage(64, 64, () => [0, 0, 0]));
      expect(output.boxes!.map((b) => b.label)).toEqual(['good']);
      expect(output.score).toBe(0);
    } finally {
      await inf.close();
    }
  });
});
