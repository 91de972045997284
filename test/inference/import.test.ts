// Bring your own model: each exporter's graph (test/inference/exports.ts) goes through
// `visor model init` (initModelPackage) and `visor model check` (checkModelPackage) as a user's
// export would, and runs in onnxruntime for real.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import type { RawImage } from '../../src/common/types.js';
import { checkModelPackage } from '../../src/inference/check.js';
import { initModelPackage, parseUltralyticsNames, type InitResult } from '../../src/inference/import.js';
import { thresholdBounds, type ModelManifest } from '../../src/inference/manifest.js';
import { createInferencer, decide, loadModelPackage } from '../../src/inference/index.js';
import { baseManifest, rgbImage, sha256, tempDirs } from './helpers.js';
import {
  anomalibV1Graph,
  anomalibV1Metadata,
  anomalibV2Graph,
  customVisionGraph,
  customVisionS1Graph,
  end2endGraph,
  getiAnomalyGraph,
  getiClassifierGraph,
  getiDetectorGraph,
  halfOutputGraph,
  nanGraph,
  yolov5Graph,
  yolov8Graph,
  type FixtureBox,
} from './exports.js';

const dirs = tempDirs();
let root: string;
const log = silentLogger();
beforeAll(async () => {
  root = await dirs.make('visor-byom-');
});
afterAll(() => dirs.cleanup());

let counter = 0;
/** Writes an export as its exporter leaves it (graph + side files) and runs init on it. */
async function exportAndInit(file: string, bytes: Uint8Array, side: Record<string, string> = {}, opts: Partial<Parameters<typeof initModelPackage>[0]> = {}): Promise<InitResult> {
  const dir = path.join(root, `export-${++counter}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, file), bytes);
  for (const [name, text] of Object.entries(side)) await writeFile(path.join(dir, name), text);
  return initModelPackage({ onnxFile: path.join(dir, file), outDir: path.join(dir, 'package'), ...opts });
}

async function png(name: string, image: RawImage): Promise<string> {
  const file = path.join(root, name);
  await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(file);
  return file;
}

/** Rewrites model.json of a package (as a user editing it by hand would). */
async function editManifest(dir: string, edit: (m: ModelManifest) => void): Promise<void> {
  const file = path.join(dir, 'model.json');
  const m = JSON.parse(await readFile(file, 'utf8')) as ModelManifest;
  edit(m);
  await writeFile(file, JSON.stringify(m, null, 2));
}

/** A copy of a package folder (model.json, model.onnx and the exporter's side files). */
async function copyPackage(from: string, name: string): Promise<string> {
  const to = path.join(root, name);
  await cp(from, to, { recursive: true });
  return to;
}

/** A copy of a package with model.json edited by hand, checked with the probe images: its error messages. */
async function checkEdited(from: string, name: string, edit: (m: ModelManifest) => void): Promise<string> {
  const dir = await copyPackage(from, name);
  await editManifest(dir, edit);
  return errors((await checkModelPackage(dir, [], { log })).findings).join('\n');
}

const field = (r: InitResult, name: string) => r.fields.find((f) => f.field === name);
const errors = (findings: { level: string; message: string }[]) => findings.filter((f) => f.level === 'error').map((f) => f.message);

const black = (w = 64, h = 64) => rgbImage(w, h, () => [0, 0, 0]);
const white = (w = 64, h = 64) => rgbImage(w, h, () => [255, 255, 255]);

describe('anomalib v1 (raw scores, metadata.json)', () => {
  let r: InitResult;
  beforeAll(async () => {
    r = await exportAndInit('model.onnx', anomalibV1Graph(), { 'metadata.json': JSON.stringify(anomalibV1Metadata()) });
  });

  it('init reads the normalisation and the Normalize transform from metadata.json', () => {
    const m = r.manifest;
    expect(r.family).toBe('anomalib');
    expect(m.task).toBe('anomaly');
    expect(m.outputs).toEqual({ heatmap: 'output' });
    expect(m.input).toMatchObject({ name: 'input', width: 32, height: 32, channels: 'RGB', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(m.input.scale).toBeCloseTo(1 / 255, 12);
    expect(m.anomaly?.normalization).toEqual({ imageThreshold: 0, min: -2, max: 2.5, pixelThreshold: 0, mapMin: -2, mapMax: 2.5 });
    expect(m.thresholds.defect).toBe(0.5);
    expect(field(r, 'anomaly.normalization')?.how).toBe('inferred');
    expect(field(r, 'thresholds.uncertainBand')?.how).toBe('default');
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(thresholdBounds(m)).toEqual({ calibrated: { defect: 0.5, uncertainBand: 0.1 }, scoreRange: { min: 0, max: 1 } });
  });

  it('check passes and scores a bright part as a defect, a black part as ok, after normalisation', async () => {
    const report = await checkModelPackage(r.dir, [await png('v1-black.png', black(32, 32)), await png('v1-white.png', white(32, 32))], { log });
    expect(errors(report.findings)).toEqual([]);
    const [ok, defect] = report.images;
    // raw map of a black image: mean over channels of -mean/std = -1.986; normalised (raw - 0) / 4.5 + 0.5.
    expect(ok!.score).toBeCloseTo(-1.986 / 4.5 + 0.5, 2);
    expect(ok!.verdict).toBe('ok');
    // White: raw 2.439 → 1.04, clipped to 1 as anomalib clips.
    expect(defect!.score).toBe(1);
    expect(defect!.verdict).toBe('defect');
  });

  it('check flags a manifest edited to 0-255 input and no normalisation', async () => {
    const found = await checkEdited(r.dir, 'v1-wrong', (m) => {
      m.input.scale = 1;
      delete m.anomaly;
    });
    expect(found).toContain('input.scale is 1 but the anomalib export takes 0-1 input');
    expect(found).toContain('anomaly.normalization');
  });
});

describe('anomalib v2 (normalised inside the graph: pred_score, pred_label, anomaly_map, pred_mask)', () => {
  let r: InitResult;
  beforeAll(async () => {
    r = await exportAndInit('model.onnx', anomalibV2Graph());
  });

  it('init takes pred_score and anomaly_map, 0-1 RGB, threshold 0.5 of a 0..1 score', () => {
    const m = r.manifest;
    expect(r.family).toBe('anomalib');
    expect(m.outputs).toEqual({ score: 'pred_score', heatmap: 'anomaly_map', mask: 'pred_mask' });
    expect(m.input).toMatchObject({ channels: 'RGB', mean: [0], std: [1] });
    expect(m.anomaly).toBeUndefined();
    expect(m.scoreRange).toEqual({ min: 0, max: 1 });
    expect(m.thresholds.defect).toBe(0.5);
  });

  it('check passes; the verdict follows the runtime threshold, not the graph\'s pred_label', async () => {
    const gray = rgbImage(32, 32, () => [178, 178, 178]); // 0.7: pred_label is true in the graph
    const report = await checkModelPackage(r.dir, [await png('v2-gray.png', gray), await png('v2-black.png', black(32, 32))], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images.map((i) => i.verdict)).toEqual(['defect', 'ok']);
    expect(report.images[0]!.score).toBeCloseTo(178 / 255, 5);
    // Sensitivity moved after export, as config / twin / review UI do (resolveThresholds): 0.8 makes the part ok.
    expect(decide(report.images[0]!.score, { defect: 0.8, uncertainBand: 0.05 })).toBe('ok');
  });

  it('check flags BGR and 0-255 on a graph that normalises RGB 0-1 inside', async () => {
    const found = await checkEdited(r.dir, 'v2-wrong', (m) => {
      m.input.scale = 1;
      m.input.channels = 'BGR';
    });
    expect(found).toContain('input.scale is 1 but the anomalib export takes 0-1 input');
    expect(found).toContain('input.channels is "BGR" but the anomalib export takes RGB');
  });

  it('without the anomaly_map, the bool pred_mask becomes the map the overlay draws', async () => {
    const dir = await copyPackage(r.dir, 'v2-mask');
    await editManifest(dir, (m) => {
      m.outputs = { score: 'pred_score', mask: 'pred_mask' };
    });
    const inferencer = await createInferencer({ pkg: await loadModelPackage(dir), log });
    try {
      const half = rgbImage(32, 32, (x) => (x < 16 ? [255, 255, 255] : [0, 0, 0]));
      const { output } = await inferencer.infer(half);
      expect(output.heatMap!.data[0]).toBe(1);
      expect(output.heatMap!.data[31]).toBe(0);
    } finally {
      await inferencer.close();
    }
  });
});

describe('YOLOv8 / YOLO11 detect (output0 [1, 4+nc, N], Ultralytics metadata)', () => {
  const boxes: FixtureBox[] = [
    { cx: 32, cy: 32, w: 32, h: 16, cls: 1 },
    { cx: 10, cy: 10, w: 8, h: 8, cls: 0 },
  ];
  let r: InitResult;
  beforeAll(async () => {
    r = await exportAndInit('best.onnx', yolov8Graph(boxes, ['good', 'crack']));
  });

  it('init reads names, task and the letterbox (pad 114, 0-1 RGB) from the export', () => {
    const m = r.manifest;
    expect(r.family).toBe('yolo');
    expect(m.name).toBe('best');
    expect(m.task).toBe('detection');
    expect(m.labels).toEqual(['good', 'crack']);
    expect(m.outputs).toEqual({ detections: 'output0' });
    expect(m.detection?.format).toBe('yolov8');
    expect(m.geometry).toEqual({ resize: 'pad', padValue: 114 });
    expect(m.input).toMatchObject({ name: 'images', width: 64, height: 64, channels: 'RGB', mean: [0], std: [1] });
    expect(m.provenance).toMatchObject({ exporter: 'yolo', importedFrom: 'best.onnx', exporterMetadata: { author: 'Ultralytics', task: 'detect' } });
  });

  it('check passes; on a wide image the box lands on the right pixels after the letterbox', async () => {
    // 128x64 white image → 64x32 in the 64x64 input, 16 px bands of gray 114 above and below.
    const report = await checkModelPackage(r.dir, [await png('yolo-wide.png', white(128, 64))], { log });
    expect(errors(report.findings)).toEqual([]);
    const [img] = report.images;
    // Brightness = half white, half pad 114 (a black pad would give 0.5).
    const brightness = 0.5 + (0.5 * 114) / 255;
    expect(img!.score).toBeCloseTo(brightness, 4);
    expect(img!.verdict).toBe('defect');
    const crack = img!.boxes!.find((b) => b.label === 'crack')!;
    // Input box (16,24)-(48,40): x scaled by 2, y shifted up by the 16 px band then scaled by 2.
    expect([crack.x1, crack.y1, crack.x2, crack.y2]).toEqual([32, 16, 96, 48]);
  });

  it('a dark part is ok: no box reaches minScore', async () => {
    const report = await checkModelPackage(r.dir, [await png('yolo-dark.png', rgbImage(64, 64, () => [20, 20, 20]))], { log });
    expect(report.images[0]!.verdict).toBe('ok');
    expect(report.images[0]!.boxes).toEqual([]);
  });

  it('check refuses a package set to the YOLOv5 layout, naming the layout the output fits', async () => {
    const dir = await copyPackage(r.dir, 'yolo-wrong-layout');
    await editManifest(dir, (m) => {
      m.detection = { ...m.detection!, format: 'yolov5' };
    });
    await expect(checkModelPackage(dir, [], { log })).rejects.toThrow(/detection\.format "yolov5" needs \[1,N,7\][\s\S]*fits detection\.format "yolov8"[\s\S]*the Ultralytics export has that output layout/);
  });

  it('check flags a letterbox without the pad value and 0-255 scaling', async () => {
    const found = await checkEdited(r.dir, 'yolo-wrong-scale', (m) => {
      m.input.scale = 1;
      m.geometry = { resize: 'pad' };
    });
    expect(found).toContain('input.scale is 1 but the Ultralytics export takes 0-1 input');
    expect(found).toContain('geometry.padValue is 0 but the Ultralytics export pads with that gray (geometry.padValue 114)');
  });

  it('per-class confidence: a class floor above the score drops that class only', async () => {
    const dir = await copyPackage(r.dir, 'yolo-class-floor');
    await editManifest(dir, (m) => {
      m.detection = { ...m.detection!, classMinScore: { crack: 0.9 } };
    });
    const inferencer = await createInferencer({ pkg: await loadModelPackage(dir), log });
    try {
      const { output } = await inferencer.infer(rgbImage(64, 64, () => [200, 200, 200]));
      expect(output.boxes!.map((b) => b.label)).toEqual(['good']);
    } finally {
      await inferencer.close();
    }
  });
});

describe('YOLO-seg (output0 with 32 mask coefficients, output1 prototypes)', () => {
  it('init finds the prototypes; the masks come back as a map inside each box', async () => {
    const r = await exportAndInit('seg.onnx', yolov8Graph([{ cx: 32, cy: 32, w: 48, h: 32, cls: 0 }], ['scratch'], 64, { seg: true }));
    expect(r.manifest.outputs).toEqual({ detections: 'output0', prototypes: 'output1' });
    expect(r.manifest.detection?.format).toBe('yolov8');
    const inferencer = await createInferencer({ pkg: await loadModelPackage(r.dir), log });
    try {
      const { output } = await inferencer.infer(white());
      expect(output.boxes).toHaveLength(1);
      const map = output.heatMap!;
      expect([map.width, map.height]).toEqual([16, 16]);
      const at = (x: number, y: number) => map.data[y * 16 + x]!;
      // Box (8,16)-(56,48) → cells x 2..14, y 4..12; prototype 0 is +6 on the left half, -6 on the right.
      expect(at(4, 8)).toBeCloseTo(1 / (1 + Math.exp(-6)), 5);
      expect(at(12, 8)).toBeCloseTo(1 / (1 + Math.exp(6)), 5);
      expect(at(4, 1)).toBe(0); // outside the box
    } finally {
      await inferencer.close();
    }
  });
});

describe('YOLOv5 (output0 [1, N, 5+nc], objectness × class)', () => {
  it('init recognises the layout; the score is objectness × class score', async () => {
    const r = await exportAndInit('yolov5s.onnx', yolov5Graph([{ cx: 20, cy: 20, w: 10, h: 10, cls: 1 }], ['good', 'dent']));
    expect(r.manifest.detection?.format).toBe('yolov5');
    expect(r.manifest.labels).toEqual(['good', 'dent']);
    const report = await checkModelPackage(r.dir, [await png('v5-white.png', white())], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images[0]!.score).toBeCloseTo(0.9, 5);
    expect(report.images[0]!.boxes![0]).toMatchObject({ label: 'dent', x1: 15, y1: 15, x2: 25, y2: 25 });
  });
});

describe('end-to-end YOLO (YOLOv10 / YOLO26: output0 [1, N, 6], no NMS)', () => {
  it('init reads the end-to-end layout; overlapping boxes are all kept', async () => {
    const boxes: FixtureBox[] = [
      { cx: 30, cy: 30, w: 20, h: 20, cls: 2 },
      { cx: 32, cy: 32, w: 20, h: 20, cls: 2 },
    ];
    const r = await exportAndInit('yolo26n.onnx', end2endGraph(boxes, ['good', 'chip', 'crack']));
    expect(r.manifest.detection?.format).toBe('end2end');
    const report = await checkModelPackage(r.dir, [await png('e2e-white.png', white())], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images[0]!.verdict).toBe('defect');
    expect(report.images[0]!.boxes!.map((b) => [b.label, b.x1, b.y1])).toEqual([
      ['crack', 20, 20],
      ['crack', 22, 22],
    ]);
  });
});

describe('Custom Vision classifier (BGR 0-255, a sequence-of-maps output)', () => {
  const labels = ['good', 'crack'];
  let r: InitResult;
  beforeAll(async () => {
    r = await exportAndInit('model.onnx', customVisionGraph(labels), { 'labels.txt': 'good\ncrack\n' });
  });

  it('init exposes the probabilities behind the ZipMap output and reads BGR and 0-255 from the metadata', async () => {
    const m = r.manifest;
    expect(r.family).toBe('customvision');
    expect(m.input).toMatchObject({ name: 'data', channels: 'BGR', scale: 1, mean: [0], std: [1] });
    expect(m.outputs).toEqual({ logits: 'model_outputs0' });
    expect(m.softmax).toBe(false);
    expect(m.labels).toEqual(labels);
    expect(r.rewritten).toContain('"model_outputs0"');
    // The package holds the rewritten graph, its hash in model.json; the original's hash is kept.
    const bytes = await readFile(path.join(r.dir, 'model.onnx'));
    expect(m.sha256).toBe(sha256(bytes));
    expect(m.provenance?.originalSha256).toBe(sha256(customVisionGraph(labels)));
  });

  it('check passes; a blue part is a crack (plane 0 is blue), a red one good', async () => {
    const blue = rgbImage(32, 32, () => [0, 0, 255]);
    const red = rgbImage(32, 32, () => [255, 0, 0]);
    const report = await checkModelPackage(r.dir, [await png('cv-blue.png', blue), await png('cv-red.png', red)], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images.map((i) => i.verdict)).toEqual(['defect', 'ok']);
    expect(report.images[0]!.classes![0]).toMatchObject({ label: 'crack' });
    expect(report.images[0]!.classes![0]!.score).toBeCloseTo(1 / (1 + Math.exp(-5.1)), 4);
  });

  it('check flags RGB on a Bgr8 export', async () => {
    const found = await checkEdited(r.dir, 'cv-rgb', (m) => {
      m.input.channels = 'RGB';
    });
    expect(found).toContain('input.channels is "RGB" but the Custom Vision export takes BGR');
  });

  it('check flags 0-1 scaling on a NominalRange_0_255 export', async () => {
    const found = await checkEdited(r.dir, 'cv-01', (m) => {
      m.input.scale = 1 / 255;
    });
    expect(found).toContain('input.scale is 0.00392156862745098 but the Custom Vision export takes 0-255 input (input.scale 1)');
  });

  it('an export with a tensor output takes its labels from labels.txt, and needs one', async () => {
    const s1 = await exportAndInit('model.onnx', customVisionS1Graph(2), { 'labels.txt': 'good\nchip\n' }, { from: 'customvision' });
    expect(s1.manifest).toMatchObject({ labels: ['good', 'chip'], outputs: { logits: 'model_output' }, softmax: false, input: { channels: 'RGB', scale: 1 / 255 } });
    const report = await checkModelPackage(s1.dir, [await png('s1-red.png', rgbImage(32, 32, () => [255, 0, 0]))], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images[0]).toMatchObject({ verdict: 'defect', classes: [{ label: 'chip' }, { label: 'good' }] });
    await expect(exportAndInit('model.onnx', customVisionS1Graph(2), {}, { from: 'customvision' })).rejects.toThrow(/give --labels labels.txt/);
  });

  it('needs the rewrite: onnxruntime-node cannot hand back the sequence-of-maps output', async () => {
    const session = await ort.InferenceSession.create(customVisionGraph(labels));
    try {
      const data = new ort.Tensor('float32', new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
      await expect(session.run({ data }, ['loss'])).rejects.toThrow(/Non tensor type is temporarily not supported/);
    } finally {
      await session.release();
    }
  });

  it('a model.json naming the map output itself is refused with the way out', async () => {
    const dir = await copyPackage(r.dir, 'cv-map');
    await editManifest(dir, (m) => {
      m.outputs.logits = 'loss';
    });
    await expect(createInferencer({ pkg: await loadModelPackage(dir), log })).rejects.toThrow(/"loss" is not a tensor .*visor model init/);
  });

  it('init refuses a labels.txt that disagrees with the graph', async () => {
    await expect(exportAndInit('model.onnx', customVisionGraph(labels), { 'labels.txt': 'crack\ngood\n' })).rejects.toThrow(/labels.txt \(crack, good\) disagrees with the graph's own labels \(good, crack\)/);
  });
});

describe('Geti classification (model_info metadata)', () => {
  it('init reads labels, mean/scale in 0-255 units and channel order; check passes; verdicts', async () => {
    const r = await exportAndInit('model.onnx', getiClassifierGraph(['good', 'scratch']));
    const m = r.manifest;
    expect(r.family).toBe('geti');
    expect(m.task).toBe('classification');
    expect(m.labels).toEqual(['good', 'scratch']);
    expect(m.input).toMatchObject({ channels: 'RGB', scale: 1, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] });
    expect(m.softmax).toBe(true);
    expect(m.geometry).toEqual({ resize: 'stretch' });
    const report = await checkModelPackage(r.dir, [await png('geti-red.png', rgbImage(32, 32, () => [255, 0, 0])), await png('geti-black.png', black(32, 32))], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images.map((i) => i.verdict)).toEqual(['defect', 'ok']);
  });
});

describe('Geti detection (boxes + int64 labels)', () => {
  it('init reads the mmdeploy layout and the letterbox; check passes; boxes land on the image after it', async () => {
    const r = await exportAndInit('model.onnx', getiDetectorGraph([{ cx: 32, cy: 32, w: 32, h: 16, cls: 1 }, { cx: 8, cy: 8, w: 4, h: 4, cls: 0 }], ['good', 'dent']));
    expect(r.manifest).toMatchObject({
      task: 'detection',
      labels: ['good', 'dent'],
      outputs: { detections: 'boxes', classes: 'labels' },
      detection: { format: 'boxes-labels', minScore: 0.3 },
      geometry: { resize: 'pad', padValue: 0 },
    });
    const report = await checkModelPackage(r.dir, [await png('geti-wide.png', white(128, 64))], { log });
    expect(errors(report.findings)).toEqual([]);
    const img = report.images[0]!;
    expect(img.score).toBeCloseTo(0.5, 5); // half white, half black bands
    expect(img.verdict).toBe('defect');
    expect(img.boxes!.map((b) => [b.label, b.x1, b.y1, b.x2, b.y2])).toEqual([
      ['dent', 32, 16, 96, 48],
      ['good', 12, 0, 20, 0],
    ]);
  });
});

describe('Geti anomaly (model_info image_threshold and normalization_scale)', () => {
  it('init normalises like anomalib; check passes; moving the threshold changes the verdict; wrong scaling flagged', async () => {
    const r = await exportAndInit('model.onnx', getiAnomalyGraph());
    const m = r.manifest;
    expect(r.family).toBe('geti');
    expect(m).toMatchObject({ task: 'anomaly', outputs: { score: 'pred_score' }, anomaly: { normalization: { imageThreshold: 6, min: 0, max: 4 } }, thresholds: { defect: 0.5 } });
    expect(m.input).toMatchObject({ scale: 1, mean: [0, 0, 0], std: [255, 255, 255], channels: 'RGB' });
    const gray = rgbImage(32, 32, () => [178, 178, 178]); // raw 6.98 → (6.98 - 6) / 4 + 0.5 = 0.745
    const report = await checkModelPackage(r.dir, [await png('geti-gray.png', gray)], { log });
    expect(errors(report.findings)).toEqual([]);
    expect(report.images[0]!.score).toBeCloseTo((1780 / 255 - 6) / 4 + 0.5, 5);
    expect(report.images[0]!.verdict).toBe('defect');
    expect(decide(report.images[0]!.score, { defect: 0.8, uncertainBand: 0.1 })).toBe('uncertain');
    const found = await checkEdited(r.dir, 'geti-wrong', (x) => {
      x.input.std = [1];
    });
    expect(found).toContain('input.std is [1] but the Geti export normalises so (input.std [255,255,255])');
  });
});

/** A package for a generic one-score anomaly graph with input "x", written by hand. */
async function scorePackage(name: string, bytes: Uint8Array): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'model.onnx'), bytes);
  const manifest = {
    name,
    version: '1',
    task: 'anomaly',
    input: { name: 'x', width: 32, height: 32, layout: 'NCHW', channels: 'RGB', scale: 1 / 255, mean: [0], std: [1] },
    outputs: { score: 'score' },
    thresholds: { defect: 0.5, uncertainBand: 0.1 },
    sha256: sha256(bytes),
  };
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(manifest));
  return dir;
}

describe('check on any package', () => {
  it('flags NaN outputs', async () => {
    const report = await checkModelPackage(await scorePackage('nan', nanGraph()), [], { log });
    expect(errors(report.findings).join('\n')).toMatch(/output "score" has 3 NaN values/);
    expect(report.images.every((i) => i.verdict === 'uncertain')).toBe(true);
  });
});

describe('half-precision outputs', () => {
  it('come back from onnxruntime as numbers', async () => {
    const inferencer = await createInferencer({ pkg: await loadModelPackage(await scorePackage('half', halfOutputGraph())), log });
    try {
      const { output } = await inferencer.infer(rgbImage(32, 32, () => [51, 102, 153])); // 0.2, 0.4, 0.6
      expect(output.score).toBeCloseTo(0.4, 3);
    } finally {
      await inferencer.close();
    }
  });
});

describe('Ultralytics names', () => {
  it('parses the Python dict str(), quotes and order included', () => {
    expect(parseUltralyticsNames(`{1: "it's bent", 0: 'ok', 2: 'a\\'b'}`)).toEqual(['ok', "it's bent", "a'b"]);
  });
});

describe('thresholdBounds', () => {
  it('knows no range for raw anomaly scores unless the manifest gives one', () => {
    const raw = { ...baseManifest('anomaly'), thresholds: { defect: 7.5, uncertainBand: 1 } };
    expect(thresholdBounds(raw)).toEqual({ calibrated: { defect: 7.5, uncertainBand: 1 } });
    expect(thresholdBounds({ ...raw, scoreRange: { min: 0, max: 20 } }).scoreRange).toEqual({ min: 0, max: 20 });
    expect(thresholdBounds(baseManifest('detection')).scoreRange).toEqual({ min: 0, max: 1 });
  });
});
