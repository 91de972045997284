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
  let heatMap: HeatMap | undefined;
  if (manifest.outputs.heatmap) {
    const t = tensor(outputs, manifest.outputs.heatmap);
    heatMap = toHeatMap(manifest.outputs.heatmap, t);
  }
  let score: number;
  if (manifest.outputs.score) {
    const t = tensor(outputs, manifest.outputs.score);
    if (t.data.length !== 1) {
      throw new ModelPackageError(`anomaly score output "${manifest.outputs.score}" has shape ${shapeText(t.dims)} (${t.data.length} values); expected one value ([1] or [1,1])`);
    }
    score = Number(t.data[0]);
  } else {
    // The manifest schema check guarantees a heat map when there is no score output.
    score = maxOf(heatMap!.data);
  }
  return heatMap ? { score, heatMap } : { score };
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
  maxBoxes: number;
}

/** YOLOv8-style output: [1, 4+nc, N] (also [1, N, 4+nc]); rows are cx, cy, w, h, class scores. */
function detectionOutput(manifest: ModelManifest, defect: Set<string>, opts: DetectionOptions, outputs: OutputTensors): ModelOutput {
  const name = manifest.outputs.detections!;
  const t = tensor(outputs, name);
  const nc = manifest.labels.length;
  const k = 4 + nc;
  const dims = t.dims.length === 3 && t.dims[0] === 1 ? t.dims.slice(1) : t.dims.length === 2 ? t.dims : undefined;
  // Channels-first is YOLOv8's export, so it wins when both dims equal 4+nc.
  const layout = dims === undefined ? undefined : dims[0] === k ? 'channels-first' : dims[1] === k ? 'anchors-first' : undefined;
  if (!dims || !layout) {
    throw new ModelPackageError(
      `detections output "${name}" has shape ${shapeText(t.dims)}, but 4 + ${nc} labels = ${k} fits neither [1,${k},N] nor [1,N,${k}]`,
    );
  }
  const anchors = layout === 'channels-first' ? dims[1]! : dims[0]!;
  const at = layout === 'channels-first' ? (i: number, c: number) => Number(t.data[c * anchors + i]) : (i: number, c: number) => Number(t.data[i * k + c]);

  const candidates: Box[] = [];
  for (let i = 0; i < anchors; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < nc; c++) {
      const s = at(i, 4 + c);
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    if (!(bestScore >= opts.minScore)) continue;
    const cx = at(i, 0);
    const cy = at(i, 1);
    const w = at(i, 2);
    const h = at(i, 3);
    candidates.push({
      x1: clamp(cx - w / 2, 0, manifest.input.width),
      y1: clamp(cy - h / 2, 0, manifest.input.height),
      x2: clamp(cx + w / 2, 0, manifest.input.width),
      y2: clamp(cy + h / 2, 0, manifest.input.height),
      label: manifest.labels[best]!,
      score: bestScore,
    });
  }
  const boxes = nms(candidates, opts.iouThreshold, opts.maxBoxes);
  let score = 0;
  for (const b of boxes) if (defect.has(b.label) && b.score > score) score = b.score;
  return { score, boxes };
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
export function nms(boxes: Box[], iouThreshold: number, maxBoxes: number): Box[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: Box[] = [];
  for (const box of sorted) {
    if (kept.length >= maxBoxes) break;
    if (kept.some((k) => k.label === box.label && iou(k, box) > iouThreshold)) continue;
    kept.push(box);
  }
  return kept;
}
