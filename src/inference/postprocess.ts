// Graph outputs → ModelOutput, per task. Shapes that do not fit the manifest throw
// ModelPackageError; the warm-up run goes through here, so such a model fails at start-up.
import { ModelPackageError } from '../common/errors.js';
import type { Box, ClassScore, HeatMap, ModelOutput } from '../common/types.js';
import type { ModelManifest } from './manifest.js';
import { defectLabelsOf } from './package.js';

/** One graph output as read from onnxruntime. */
export interface OutputTensor {
  dims: readonly number[];
  data: ArrayLike<number>;
}
export type OutputTensors = Readonly<Record<string, OutputTensor>>;

export const DETECTION_DEFAULTS = { iouThreshold: 0.45, minScore: 0.25, maxBoxes: 100 } as const;

export type Postprocessor = (outputs: OutputTensors) => ModelOutput;

export function createPostprocessor(manifest: ModelManifest): Postprocessor {
  switch (manifest.task) {
    case 'anomaly':
      return (outputs) => anomalyOutput(manifest, outputs);
    case 'classification': {
      const defect = new Set(defectLabelsOf(manifest));
      return (outputs) => classificationOutput(manifest, defect, outputs);
    }
    case 'detection': {
      const defect = new Set(defectLabelsOf(manifest));
      const opts = { ...DETECTION_DEFAULTS, ...manifest.detection };
      return (outputs) => detectionOutput(manifest, defect, opts, outputs);
    }
  }
}

function tensor(outputs: OutputTensors, name: string): OutputTensor {
  const t = outputs[name];
  if (!t) throw new ModelPackageError(`graph produced no output "${name}" (outputs: ${Object.keys(outputs).map((k) => `"${k}"`).join(', ')})`);
  return t;
}

const shapeText = (dims: readonly number[]) => `[${dims.join(',')}]`;

function anomalyOutput(manifest: ModelManifest, outputs: OutputTensors): ModelOutput {
  const norm = manifest.anomaly?.normalization;
  let heatMap: HeatMap | undefined;
  let rawMax = NaN;
  if (manifest.outputs.heatmap) {
    heatMap = toHeatMap(manifest.outputs.heatmap, tensor(outputs, manifest.outputs.heatmap));
    rawMax = maxOf(heatMap.data);
    if (norm) {
      const threshold = norm.pixelThreshold ?? norm.imageThreshold;
      const span = (norm.mapMax ?? norm.max) - (norm.mapMin ?? norm.min);
      for (let i = 0; i < heatMap.data.length; i++) heatMap.data[i] = minMaxNormalize(heatMap.data[i]!, threshold, span);
    }
  } else if (manifest.outputs.mask) {
    heatMap = toHeatMap(manifest.outputs.mask, tensor(outputs, manifest.outputs.mask));
  }
  let score: number;
  if (manifest.outputs.score) {
    const t = tensor(outputs, manifest.outputs.score);
    if (t.data.length !== 1) {
      throw new ModelPackageError(`anomaly score output "${manifest.outputs.score}" has shape ${shapeText(t.dims)} (${t.data.length} values); expected one value ([1] or [1,1])`);
    }
    score = Number(t.data[0]);
    if (norm) score = minMaxNormalize(score, norm.imageThreshold, norm.max - norm.min);
  } else {
    // No score output: the map's raw maximum is the score (anomalib v1 does the same), normalised
    // with the image threshold. The schema check guarantees a heat map here.
    score = norm ? minMaxNormalize(rawMax, norm.imageThreshold, norm.max - norm.min) : rawMax;
  }
  return heatMap ? { score, heatMap } : { score };
}

/** anomalib's min-max rule: the exporter's threshold lands on 0.5, the validation range spans 1, clipped to 0..1. */
export function minMaxNormalize(raw: number, threshold: number, span: number): number {
  const v = (raw - threshold) / (span > 0 ? span : 1) + 0.5;
  return Number.isNaN(v) ? v : Math.min(1, Math.max(0, v));
}

function toHeatMap(name: string, t: OutputTensor): HeatMap {
  const dims = t.dims;
  const leading = dims.slice(0, -2).reduce((a, b) => a * b, 1);
  if (dims.length < 2 || dims.length > 4 || leading !== 1) {
    throw new ModelPackageError(`heatmap output "${name}" has shape ${shapeText(dims)}; expected [1,1,h,w], [1,h,w] or [h,w]`);
  }
  const height = dims[dims.length - 2]!;
  const width = dims[dims.length - 1]!;
  return { width, height, data: Float32Array.from(t.data) };
}

function maxOf(data: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  return max;
}

/**
 * `manifest.softmax` means "Visor applies softmax to this output": absent or true → the output
 * is raw logits and is softmaxed; false → the graph already outputs probabilities, used as they are.
 */
function classificationOutput(manifest: ModelManifest, defect: Set<string>, outputs: OutputTensors): ModelOutput {
  const name = manifest.outputs.logits!;
  const t = tensor(outputs, name);
  const n = manifest.labels.length;
  if (t.data.length !== n) {
    throw new ModelPackageError(
      `logits output "${name}" has ${t.data.length} values (shape ${shapeText(t.dims)}) but model.json lists ${n} labels (${manifest.labels.join(', ')})`,
    );
  }
  const probs = manifest.softmax === false ? Array.from(t.data, Number) : softmax(t.data);
  const classes: ClassScore[] = manifest.labels.map((label, i) => ({ label, score: probs[i]! }));
  let score = 0;
  for (const c of classes) if (defect.has(c.label) && c.score > score) score = c.score;
  classes.sort((a, b) => b.score - a.score);
  return { score, classes };
}

export function softmax(logits: ArrayLike<number>): number[] {
  const max = maxOf(logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

interface DetectionOptions {
  iouThreshold: number;
  minScore: number;
  classMinScore?: Record<string, number>;
  maxBoxes: number;
}

export type DetectionFormat = 'yolov8' | 'yolov5' | 'end2end' | 'boxes-labels';

/** Values per box row of a detections tensor: box + (objectness) + class scores (+ mask coefficients); end2end: box, score, class (+ coefficients). */
export function detectionRowLength(format: DetectionFormat, classes: number, maskCoefficients = 0): number {
  return (format === 'end2end' ? 6 : format === 'boxes-labels' ? 5 : format === 'yolov5' ? 5 + classes : 4 + classes) + maskCoefficients;
}

/** How the rows lie in a detections tensor: [1, k, N] (channels first, YOLOv8's export) or [1, N, k]. */
export function detectionLayout(dims: readonly number[], format: DetectionFormat, k: number): { rows: number; channelsFirst: boolean } | undefined {
  const d = dims.length === 3 && dims[0] === 1 ? dims.slice(1) : dims.length === 2 ? dims : undefined;
  if (!d) return undefined;
  // Channels-first is YOLOv8's export, so it wins when both dims equal k; the others are anchors-first.
  if (format === 'yolov8' && d[0] === k) return { rows: d[1]!, channelsFirst: true };
  if (d[1] === k) return { rows: d[0]!, channelsFirst: false };
  return undefined;
}

/** "4 + 2 labels = 6 fits neither [1,6,N] nor [1,N,6]" — what a format needs, for messages. */
export function detectionLayoutText(format: DetectionFormat, classes: number, m = 0): string {
  const k = detectionRowLength(format, classes, m);
  const fixed = format === 'end2end' || format === 'boxes-labels';
  const parts = `${format === 'end2end' ? '6' : format === 'yolov5' || format === 'boxes-labels' ? '5' : '4'}${fixed ? '' : ` + ${classes} labels`}${m ? ` + ${m} mask coefficients` : ''}`;
  return format === 'yolov8' ? `${parts} = ${k} fits neither [1,${k},N] nor [1,N,${k}]` : `detection.format "${format}" needs [1,N,${k}] (${parts} = ${k} values per box)`;
}

/** The layouts a detections tensor of these dims would fit, for hints in error messages. */
export function detectionLayoutHint(dims: readonly number[], classes: number, m = 0): string {
  const fits = (['yolov8', 'yolov5', 'end2end', 'boxes-labels'] as const).filter((f) => detectionLayout(dims, f, detectionRowLength(f, classes, m)));
  return fits.length > 0 ? ` (it fits detection.format ${fits.map((f) => `"${f}"`).join(' or ')})` : '';
}

function detectionOutput(manifest: ModelManifest, defect: Set<string>, opts: DetectionOptions, outputs: OutputTensors): ModelOutput {
  const name = manifest.outputs.detections!;
  const t = tensor(outputs, name);
  const format = manifest.detection?.format ?? 'yolov8';
  const nc = manifest.labels.length;
  const protos = manifest.outputs.prototypes ? tensor(outputs, manifest.outputs.prototypes) : undefined;
  if (protos && (protos.dims.length !== 4 || protos.dims[0] !== 1)) {
    throw new ModelPackageError(`prototypes output "${manifest.outputs.prototypes}" has shape ${shapeText(protos.dims)}; expected [1, m, mask height, mask width]`);
  }
  const m = protos ? protos.dims[1]! : 0;
  const k = detectionRowLength(format, nc, m);
  const layout = detectionLayout(t.dims, format, k);
  if (!layout) {
    throw new ModelPackageError(`detections output "${name}" has shape ${shapeText(t.dims)}, but ${detectionLayoutText(format, nc, m)}${detectionLayoutHint(t.dims, nc, m)}`);
  }
  const { rows, channelsFirst } = layout;
  const at = channelsFirst ? (i: number, c: number) => Number(t.data[c * rows + i]) : (i: number, c: number) => Number(t.data[i * k + c]);
  const coefficientsAt = k - m;
  // boxes-labels: the class of row i comes from its own tensor.
  const classIds = format === 'boxes-labels' ? tensor(outputs, manifest.outputs.classes!) : undefined;
  if (classIds && classIds.data.length < rows) {
    throw new ModelPackageError(`classes output "${manifest.outputs.classes}" has ${classIds.data.length} values for ${rows} boxes`);
  }
  const suppressed = format === 'end2end' || format === 'boxes-labels';

  const candidates: (Box & { row: number })[] = [];
  for (let i = 0; i < rows; i++) {
    let best = 0;
    let bestScore = -Infinity;
    if (suppressed) {
      best = Math.round(classIds ? Number(classIds.data[i]) : at(i, 5));
      bestScore = at(i, 4);
      if (!(best >= 0 && best < nc)) continue;
    } else {
      const first = format === 'yolov5' ? 5 : 4;
      const objectness = format === 'yolov5' ? at(i, 4) : 1;
      for (let c = 0; c < nc; c++) {
        const s = objectness * at(i, first + c);
        if (s > bestScore) {
          bestScore = s;
          best = c;
        }
      }
    }
    const label = manifest.labels[best]!;
    if (!(bestScore >= (opts.classMinScore?.[label] ?? opts.minScore))) continue;
    const [x1, y1, x2, y2] =
      suppressed ? [at(i, 0), at(i, 1), at(i, 2), at(i, 3)] : [at(i, 0) - at(i, 2) / 2, at(i, 1) - at(i, 3) / 2, at(i, 0) + at(i, 2) / 2, at(i, 1) + at(i, 3) / 2];
    candidates.push({
      x1: clamp(x1, 0, manifest.input.width),
      y1: clamp(y1, 0, manifest.input.height),
      x2: clamp(x2, 0, manifest.input.width),
      y2: clamp(y2, 0, manifest.input.height),
      label,
      score: bestScore,
      row: i,
    });
  }
  // End-to-end exports have done their own suppression; NMS again would only drop touching parts.
  const kept = suppressed ? [...candidates].sort((a, b) => b.score - a.score).slice(0, opts.maxBoxes) : nms(candidates, opts.iouThreshold, opts.maxBoxes);
  let score = 0;
  for (const b of kept) if (defect.has(b.label) && b.score > score) score = b.score;
  const boxes = kept.map(({ row: _row, ...b }) => b);
  if (!protos) return { score, boxes };
  const coefficients = kept.map((b) => Array.from({ length: m }, (_, j) => at(b.row, coefficientsAt + j)));
  return { score, boxes, heatMap: segmentationMap(protos, boxes, coefficients, manifest.input) };
}

/**
 * YOLO-seg masks: each box's mask is sigmoid(coefficients · prototypes), kept inside its box, at
 * the prototypes' resolution over the model input; the map holds the highest mask value per cell,
 * so the overlay draws every mask as it draws a heat map.
 */
function segmentationMap(protos: OutputTensor, boxes: readonly Box[], coefficients: readonly number[][], input: { width: number; height: number }): HeatMap {
  const [, m, mh, mw] = protos.dims as [number, number, number, number];
  const cells = mh * mw;
  const data = new Float32Array(cells);
  boxes.forEach((b, n) => {
    const c = coefficients[n]!;
    const xa = Math.max(0, Math.floor((b.x1 / input.width) * mw));
    const xb = Math.min(mw, Math.ceil((b.x2 / input.width) * mw));
    const ya = Math.max(0, Math.floor((b.y1 / input.height) * mh));
    const yb = Math.min(mh, Math.ceil((b.y2 / input.height) * mh));
    for (let y = ya; y < yb; y++) {
      for (let x = xa; x < xb; x++) {
        let v = 0;
        for (let j = 0; j < m; j++) v += c[j]! * Number(protos.data[j * cells + y * mw + x]);
        const p = 1 / (1 + Math.exp(-v));
        if (p > data[y * mw + x]!) data[y * mw + x] = p;
      }
    }
  });
  return { width: mw, height: mh, data };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Class-wise greedy non-maximum suppression; result sorted by score, at most `maxBoxes`. */
export function nms<B extends Box>(boxes: B[], iouThreshold: number, maxBoxes: number): B[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: B[] = [];
  for (const box of sorted) {
    if (kept.length >= maxBoxes) break;
    if (kept.some((k) => k.label === box.label && iou(k, box) > iouThreshold)) continue;
    kept.push(box);
  }
  return kept;
}
