// Bring your own model: reads an exported ONNX graph (inputs, outputs, metadata_props, the few
// nodes that matter) and the files its exporter leaves beside it, recognises the exporter's
// conventions and writes a model package whose every field says where it came from.
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { ModelPackageError, errorMessage } from '../common/errors.js';
import type { ModelManifest } from './manifest.js';
import { MANIFEST_FILE, ONNX_FILE, parseManifest, sha256File } from './package.js';
import { detectionRowLength, type DetectionFormat } from './postprocess.js';
import { createHash } from 'node:crypto';

const { onnx } = onnxProto;

export const EXPORT_FAMILIES = ['anomalib', 'yolo', 'customvision', 'geti', 'generic'] as const;
export type ExportFamily = (typeof EXPORT_FAMILIES)[number];

type Dim = number | string;

export interface GraphValue {
  name: string;
  /** 'tensor' for tensors; otherwise what onnxruntime-node cannot hand back ('sequence', 'map'). */
  kind: 'tensor' | 'sequence' | 'map' | 'other';
  elemType?: string;
  dims: Dim[];
}

export interface GraphInfo {
  inputs: GraphValue[];
  outputs: GraphValue[];
  metadata: Record<string, string>;
  /** Op type of the node producing each tensor name. */
  producers: Map<string, { opType: string; inputs: string[]; attributes: Map<string, onnxProto.onnx.IAttributeProto> }>;
}

const ELEM_TYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64' };

function valueOf(v: onnxProto.onnx.IValueInfoProto): GraphValue {
  const t = v.type;
  const name = v.name ?? '';
  if (t?.tensorType) {
    const dims = (t.tensorType.shape?.dim ?? []).map((d): Dim => (d.dimValue != null ? Number(d.dimValue) : d.dimParam || '?'));
    return { name, kind: 'tensor', elemType: ELEM_TYPES[t.tensorType.elemType ?? 0] ?? `type ${t.tensorType.elemType}`, dims };
  }
  return { name, kind: t?.sequenceType ? 'sequence' : t?.mapType ? 'map' : 'other', dims: [] };
}

export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ModelPackageError(`not an ONNX model (${errorMessage(err)})`, { cause: err });
  }
}

export function graphInfo(model: onnxProto.onnx.IModelProto): GraphInfo {
  const graph = model.graph;
  if (!graph) throw new ModelPackageError('the ONNX file has no graph');
  const initializers = new Set((graph.initializer ?? []).map((i) => i.name));
  const producers: GraphInfo['producers'] = new Map();
  for (const node of graph.node ?? []) {
    const attributes = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
    for (const out of node.output ?? []) producers.set(out, { opType: node.opType ?? '', inputs: node.input ?? [], attributes });
  }
  return {
    inputs: (graph.input ?? []).filter((i) => !initializers.has(i.name)).map(valueOf),
    outputs: (graph.output ?? []).map(valueOf),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    producers,
  };
}

/** How one manifest field got its value: read from the export, or Visor's default. */
export interface FieldSource {
  field: string;
  value: unknown;
  how: 'inferred' | 'default';
  from: string;
}

export interface InitOptions {
  onnxFile: string;
  outDir: string;
  from?: ExportFamily;
  /** labels.txt (Custom Vision) or any file with one label per line. */
  labelsFile?: string;
  name?: string;
  /** Input size when the graph leaves it free ("WxH"). */
  size?: { width: number; height: number };
}

export interface InitResult {
  dir: string;
  family: ExportFamily;
  manifest: ModelManifest;
  fields: FieldSource[];
  /** Set when model.onnx is not a plain copy (e.g. Custom Vision's map output exposed as a tensor). */
  rewritten?: string;
}

/** What the exporter's conventions say about the package; shared by init and check. */
export interface Inferred {
  family: ExportFamily;
  draft: Omit<Partial<ModelManifest>, 'input' | 'outputs'> & { input: Partial<ModelManifest['input']>; outputs: ModelManifest['outputs'] };
  fields: FieldSource[];
  /** Extra graph outputs to add: a tensor feeding a map/sequence output (onnxruntime-node reads tensors only). */
  exposeOutputs: string[];
}

/** Files the exporters leave beside the graph. */
export interface Sidecars {
  /** anomalib v1 metadata.json */
  anomalibMetadata?: Record<string, unknown>;
  labels?: string[];
  /** The side files read (copied into the package). */
  files: string[];
}

export async function readSidecars(onnxFile: string, labelsFile?: string): Promise<Sidecars> {
  const out: Sidecars = { files: [] };
  const metaFile = path.join(path.dirname(onnxFile), 'metadata.json');
  const metaText = await readFile(metaFile, 'utf8').catch(() => undefined);
  if (metaText !== undefined) {
    try {
      out.anomalibMetadata = JSON.parse(metaText) as Record<string, unknown>;
      out.files.push(metaFile);
    } catch (err) {
      throw new ModelPackageError(`${metaFile} is not valid JSON: ${errorMessage(err)}`, { cause: err });
    }
  }
  const labelsPath = labelsFile ?? path.join(path.dirname(onnxFile), 'labels.txt');
  const labelsText = await readFile(labelsPath, 'utf8').catch((err: unknown) => {
    if (labelsFile) throw new ModelPackageError(`cannot read --labels ${labelsFile}: ${errorMessage(err)}`, { cause: err });
    return undefined;
  });
  if (labelsText !== undefined) out.files.push(labelsPath);
  if (labelsText !== undefined) out.labels = labelsText.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  return out;
}

/** The exporter a graph most likely came from, by the marks each one leaves. */
export function detectFamily(g: GraphInfo, side: Sidecars): ExportFamily {
  const keys = Object.keys(g.metadata);
  if (keys.some((k) => k.startsWith('model_info '))) return 'geti';
  if (g.metadata.names !== undefined && (g.metadata.stride !== undefined || g.metadata.author === 'Ultralytics')) return 'yolo';
  if (g.metadata['Image.BitmapPixelFormat'] !== undefined || g.outputs.some((o) => o.kind === 'sequence' && g.producers.get(o.name)?.opType === 'ZipMap')) return 'customvision';
  const names = g.outputs.map((o) => o.name);
  if (side.anomalibMetadata?.image_threshold !== undefined || names.includes('pred_score') || names.includes('anomaly_map')) return 'anomalib';
  return 'generic';
}

class Fields {
  readonly list: FieldSource[] = [];
  inferred(field: string, value: unknown, from: string): void {
    this.list.push({ field, value, how: 'inferred', from });
  }
  defaulted(field: string, value: unknown, why: string): void {
    this.list.push({ field, value, how: 'default', from: why });
  }
}

/** Reads the conventions of an export: the draft manifest and where each field came from. */
export function inferFromExport(g: GraphInfo, side: Sidecars, opts: { from?: ExportFamily; size?: { width: number; height: number } } = {}): Inferred {
  const family = opts.from ?? detectFamily(g, side);
  const f = new Fields();
  if (g.inputs.length !== 1) {
    throw new ModelPackageError(`the graph has ${g.inputs.length} inputs (${g.inputs.map((i) => `"${i.name}"`).join(', ')}); Visor feeds one image input`);
  }
  const input = g.inputs[0]!;
  const dims = input.dims;
  if (dims.length !== 4) throw new ModelPackageError(`graph input "${input.name}" is [${dims.join(',')}]; an image input is 4-D (NCHW)`);
  if (dims[3] === 3 || (dims[3] === 1 && dims[1] !== 1)) {
    throw new ModelPackageError(`graph input "${input.name}" is [${dims.join(',')}]: channels last (NHWC). Visor feeds NCHW; export with channels first (the default of PyTorch exporters)`);
  }
  const size = inputSize(g, dims, family, opts.size, f);
  const planes = dims[1] === 1 ? 1 : 3;
  f.inferred('input.name', input.name, 'the graph');
  const draft: Inferred['draft'] = { input: { name: input.name, width: size.width, height: size.height, layout: 'NCHW' }, outputs: {} };
  const exposeOutputs: string[] = [];
  const notRead = (why: string) => new ModelPackageError(why);

  switch (family) {
    case 'yolo': {
      const m = g.metadata;
      const task = m.task ?? 'detect';
      const names = parseUltralyticsNames(m.names ?? '');
      if (names.length === 0) throw notRead(`Ultralytics metadata "names" (${JSON.stringify(m.names)}) lists no class names`);
      draft.labels = names;
      f.inferred('labels', names, 'ONNX metadata "names"');
      setInput(draft, f, planes === 1 ? 'GRAY' : 'RGB', 1 / 255, [0], [1], 'Ultralytics feeds RGB scaled to 0-1');
      if (task === 'classify') {
        draft.task = 'classification';
        draft.outputs.logits = firstTensor(g).name;
        draft.softmax = false;
        f.inferred('task', 'classification', 'ONNX metadata task "classify"');
        f.inferred('softmax', false, 'the Ultralytics Classify head exports probabilities');
        draft.geometry = { resize: 'crop' };
        f.inferred('geometry.resize', 'crop', 'Ultralytics classifies a centre crop');
      } else if (task === 'detect' || task === 'segment') {
        draft.task = 'detection';
        f.inferred('task', 'detection', `ONNX metadata task "${task}"`);
        const det = firstTensor(g);
        draft.outputs.detections = det.name;
        const protos = task === 'segment' ? g.outputs.find((o) => o.kind === 'tensor' && o.name !== det.name && o.dims.length === 4) : undefined;
        const coefficients = typeof protos?.dims[1] === 'number' ? protos.dims[1] : 0;
        if (protos) {
          draft.outputs.prototypes = protos.name;
          f.inferred('outputs.prototypes', protos.name, `segmentation prototypes [${protos.dims.join(',')}]`);
        }
        const format = yoloFormat(det, names.length, coefficients, m);
        draft.detection = { format, iouThreshold: 0.45, minScore: 0.25, maxBoxes: 100 };
        f.inferred('detection.format', format, `output "${det.name}" [${det.dims.join(',')}] with ${names.length} classes`);
        draft.geometry = { resize: 'pad', padValue: 114 };
        f.inferred('geometry', draft.geometry, 'Ultralytics letterboxes with gray 114');
      } else {
        throw notRead(`Ultralytics task "${task}" is not supported (detect, segment and classify are)`);
      }
      break;
    }
    case 'anomalib': {
      draft.task = 'anomaly';
      f.inferred('task', 'anomaly', 'anomalib export');
      const meta = side.anomalibMetadata;
      const named = (n: string) => g.outputs.find((o) => o.name === n && o.kind === 'tensor');
      const score = named('pred_score') ?? g.outputs.find((o) => o.kind === 'tensor' && o.dims.length <= 2);
      const map = named('anomaly_map') ?? g.outputs.find((o) => o.kind === 'tensor' && o.dims.length >= 3 && o.name !== 'pred_mask');
      const mask = named('pred_mask');
      if (!score && !map) throw notRead(`no anomaly score or map among the outputs ${g.outputs.map((o) => `"${o.name}" [${o.dims.join(',')}]`).join(', ')}`);
      if (score) draft.outputs.score = score.name;
      if (map) draft.outputs.heatmap = map.name;
      if (mask) draft.outputs.mask = mask.name;
      f.inferred('outputs', draft.outputs, 'the graph outputs');
      if (meta && typeof meta.image_threshold === 'number') {
        // anomalib v1: raw scores, normalised with metadata.json (Normalize and Resize transforms there too).
        const num = (k: string) => (typeof meta[k] === 'number' ? (meta[k] as number) : undefined);
        const min = num('pred_scores.min') ?? num('min');
        const max = num('pred_scores.max') ?? num('max');
        if (min === undefined || max === undefined) throw notRead('metadata.json has image_threshold but no pred_scores.min / pred_scores.max to normalise with');
        const norm: NonNullable<NonNullable<ModelManifest['anomaly']>['normalization']> = { imageThreshold: meta.image_threshold, min, max };
        const pixel = num('pixel_threshold');
        if (pixel !== undefined) norm.pixelThreshold = pixel;
        const mapMin = num('anomaly_maps.min');
        const mapMax = num('anomaly_maps.max');
        if (mapMin !== undefined) norm.mapMin = mapMin;
        if (mapMax !== undefined) norm.mapMax = mapMax;
        draft.anomaly = { normalization: norm };
        f.inferred('anomaly.normalization', norm, 'metadata.json (image_threshold, pred_scores.min/max, anomaly_maps.min/max)');
        const t = albumentations(meta.transform);
        setInput(draft, f, 'RGB', 1 / (t.normalize?.max_pixel_value ?? 255), t.normalize?.mean ?? [0], t.normalize?.std ?? [1], t.normalize ? 'metadata.json Normalize transform' : 'anomalib feeds RGB 0-1');
        draft.geometry = { resize: t.centerCrop ? 'crop' : 'stretch' };
        f.inferred('geometry.resize', draft.geometry.resize, t.centerCrop ? 'metadata.json CenterCrop transform' : 'metadata.json Resize transform (aspect ratio ignored)');
      } else {
        // anomalib v2: pre-processing, normalisation and the threshold are inside the graph; 0.5 splits.
        setInput(draft, f, 'RGB', 1 / 255, [0], [1], 'anomalib v2 graphs normalise inside; they take RGB 0-1');
        draft.geometry = { resize: 'stretch' };
        f.inferred('geometry.resize', 'stretch', 'anomalib resizes without keeping the aspect ratio');
        draft.scoreRange = { min: 0, max: 1 };
        f.inferred('scoreRange', draft.scoreRange, 'anomalib v2 normalises scores to 0..1 inside the graph');
      }
      draft.thresholds = { defect: 0.5, uncertainBand: 0.1, calibration: { method: 'the exporter threshold (anomalib normalises it to 0.5)' } };
      f.inferred('thresholds.defect', 0.5, 'anomalib normalised threshold');
      f.defaulted('thresholds.uncertainBand', 0.1, 'Visor default; move it with config, the twin or the review UI');
      break;
    }
    case 'customvision': {
      draft.task = 'classification';
      f.inferred('task', 'classification', 'Custom Vision classifier export');
      const bgr = g.metadata['Image.BitmapPixelFormat'] === 'Bgr8';
      const range255 = g.metadata['Image.NominalPixelRange'] === 'NominalRange_0_255';
      setInput(draft, f, bgr ? 'BGR' : 'RGB', range255 ? 1 : 1 / 255, [0], [1], `ONNX metadata Image.BitmapPixelFormat ${g.metadata['Image.BitmapPixelFormat'] ?? '(absent)'}, Image.NominalPixelRange ${g.metadata['Image.NominalPixelRange'] ?? '(absent)'}`);
      const seq = g.outputs.find((o) => o.kind === 'sequence' && g.producers.get(o.name)?.opType === 'ZipMap');
      if (seq) {
        // onnxruntime-node cannot return sequence<map> outputs: expose the probabilities tensor ZipMap reads.
        const zip = g.producers.get(seq.name)!;
        const tensorName = zip.inputs[0]!;
        const labels = (zip.attributes.get('classlabels_strings')?.strings ?? []).map((b) => new TextDecoder().decode(b));
        if (labels.length === 0) throw notRead(`ZipMap "${seq.name}" has no string class labels`);
        if (side.labels && side.labels.join('\n') !== labels.join('\n')) {
          throw notRead(`labels.txt (${side.labels.join(', ')}) disagrees with the graph's own labels (${labels.join(', ')})`);
        }
        draft.labels = labels;
        draft.outputs.logits = tensorName;
        exposeOutputs.push(tensorName);
        f.inferred('labels', labels, `ZipMap "${seq.name}" class labels${side.labels ? ' (labels.txt agrees)' : ''}`);
        f.inferred('outputs.logits', tensorName, `the probabilities tensor behind the sequence-of-maps output "${seq.name}" (exposed as a graph output)`);
      } else {
        const t = firstTensor(g, (o) => o.elemType !== 'string');
        draft.outputs.logits = t.name;
        f.inferred('outputs.logits', t.name, 'the graph output');
        if (!side.labels) throw notRead('this Custom Vision export names no labels in the graph: give --labels labels.txt (it comes in the export zip)');
        draft.labels = side.labels;
        f.inferred('labels', side.labels, 'labels.txt');
      }
      draft.softmax = false;
      f.inferred('softmax', false, 'Custom Vision classifiers output probabilities');
      draft.geometry = { resize: 'stretch' };
      f.inferred('geometry.resize', 'stretch', "Custom Vision's samples resize to the input size");
      break;
    }
    case 'geti': {
      const m = (k: string) => g.metadata[`model_info ${k}`];
      const kind = `${m('task_type') ?? ''} ${m('model_type') ?? ''}`.toLowerCase();
      const mean = (m('mean_values') ?? '0').trim().split(/\s+/).map(Number);
      const std = (m('scale_values') ?? '1').trim().split(/\s+/).map(Number);
      const rgb = (m('reverse_input_channels') ?? 'True').toLowerCase() === 'true';
      setInput(draft, f, planes === 1 ? 'GRAY' : rgb ? 'RGB' : 'BGR', 1, mean, std, 'ONNX metadata model_info mean_values / scale_values / reverse_input_channels (0-255 units)');
      const resizeType = m('resize_type') ?? 'standard';
      const resize = resizeType.startsWith('fit_to_window') ? 'pad' : resizeType.includes('crop') ? 'crop' : 'stretch';
      draft.geometry = resize === 'pad' ? { resize, padValue: Number(m('pad_value') ?? 0) } : { resize };
      f.inferred('geometry', draft.geometry, `ONNX metadata model_info resize_type "${resizeType}"`);
      if (kind.includes('anomaly')) {
        draft.task = 'anomaly';
        const score = g.outputs.find((o) => o.kind === 'tensor' && o.dims.length <= 2);
        const map = g.outputs.find((o) => o.kind === 'tensor' && o.dims.length >= 3);
        if (score) draft.outputs.score = score.name;
        if (map) draft.outputs.heatmap = map.name;
        const threshold = Number(m('image_threshold'));
        const scale = Number(m('normalization_scale'));
        if (Number.isFinite(threshold) && Number.isFinite(scale)) {
          draft.anomaly = { normalization: { imageThreshold: threshold, min: 0, max: scale, ...(m('pixel_threshold') ? { pixelThreshold: Number(m('pixel_threshold')) } : {}) } };
          f.inferred('anomaly.normalization', draft.anomaly.normalization, 'ONNX metadata model_info image_threshold / normalization_scale');
        }
        draft.thresholds = { defect: 0.5, uncertainBand: 0.1, calibration: { method: 'the exporter threshold (normalised to 0.5)' } };
        f.inferred('thresholds.defect', 0.5, 'Geti normalised threshold');
      } else if (kind.includes('classification')) {
        draft.task = 'classification';
        const t = firstTensor(g, (o) => o.dims.length === 2);
        draft.outputs.logits = t.name;
        draft.softmax = g.producers.get(t.name)?.opType !== 'Softmax';
        f.inferred('softmax', draft.softmax, draft.softmax ? 'the output is not produced by a Softmax node' : 'the output comes from a Softmax node');
      } else if (kind.includes('detection') || /\b(ssd|atss|yolox|rtmdet|rtdetr)\b/.test(kind)) {
        // mmdeploy's end2end export as OTX configures it: "boxes" [1,N,5] and "labels" [1,N].
        draft.task = 'detection';
        const boxes = g.outputs.find((o) => o.name === 'boxes' && o.kind === 'tensor');
        const classes = g.outputs.find((o) => o.name === 'labels' && o.kind === 'tensor');
        if (!boxes || !classes) throw notRead(`a Geti detector needs outputs "boxes" and "labels" (the graph has ${g.outputs.map((o) => `"${o.name}"`).join(', ')})`);
        draft.outputs.detections = boxes.name;
        draft.outputs.classes = classes.name;
        draft.detection = { format: 'boxes-labels', iouThreshold: 0.45, minScore: Number(m('confidence_threshold') ?? 0.25), maxBoxes: 100 };
        f.inferred('detection.format', 'boxes-labels', 'outputs "boxes" [1,N,5] and "labels" [1,N]');
        if (m('confidence_threshold') !== undefined) f.inferred('detection.minScore', draft.detection.minScore, 'ONNX metadata model_info confidence_threshold');
      } else {
        throw notRead(`Geti model type "${kind.trim()}" is not supported yet (anomaly, classification and detection exports are)`);
      }
      f.inferred('task', draft.task, 'ONNX metadata model_info task_type / model_type');
      if (draft.task === 'classification' || draft.task === 'detection') {
        const labels = side.labels ?? (m('labels') ?? '').trim().split(/\s+/).filter((l) => l.length > 0);
        if (labels.length === 0) throw notRead('no labels in model_info labels; give --labels');
        draft.labels = labels;
        f.inferred('labels', labels, side.labels ? 'the labels file' : 'ONNX metadata model_info labels');
      }
      break;
    }
    case 'generic': {
      setInput(draft, f, planes === 1 ? 'GRAY' : 'RGB', 1 / 255, [0], [1], undefined);
      draft.geometry = { resize: 'stretch' };
      f.defaulted('geometry.resize', 'stretch', 'Visor default; set pad or crop if the model was trained so');
      const tensors = g.outputs.filter((o) => o.kind === 'tensor');
      const score = tensors.find((o) => /score/i.test(o.name) && o.dims.length <= 2);
      const map = tensors.find((o) => o.dims.length === 4 && (o.dims[1] === 1 || /map|heat/i.test(o.name)));
      if (score || map) {
        draft.task = 'anomaly';
        if (score) draft.outputs.score = score.name;
        if (map) draft.outputs.heatmap = map.name;
        f.inferred('task', 'anomaly', 'a score and/or one-channel map output');
      } else if (side.labels && tensors.length >= 1 && tensors[0]!.dims.length === 3) {
        draft.task = 'detection';
        draft.outputs.detections = tensors[0]!.name;
        draft.labels = side.labels;
        const format = yoloFormat(tensors[0]!, side.labels.length, 0, {});
        draft.detection = { format, iouThreshold: 0.45, minScore: 0.25, maxBoxes: 100 };
        f.inferred('task', 'detection', `a 3-D output [${tensors[0]!.dims.join(',')}] and labels`);
        f.inferred('detection.format', format, 'the output shape');
      } else if (side.labels && tensors.length >= 1) {
        draft.task = 'classification';
        draft.outputs.logits = tensors[0]!.name;
        draft.labels = side.labels;
        draft.softmax = g.producers.get(tensors[0]!.name)?.opType !== 'Softmax';
        f.inferred('task', 'classification', 'one output and labels');
        f.inferred('softmax', draft.softmax, draft.softmax ? 'the output is not produced by a Softmax node' : 'the output comes from a Softmax node');
      } else {
        throw notRead('cannot tell the task of this graph: name its anomaly outputs "score"/"anomaly_map", or give --labels for a classifier or detector, or --from with the exporter');
      }
      if (draft.labels) f.inferred('labels', draft.labels, 'the labels file');
      break;
    }
  }
  return { family, draft, fields: f.list, exposeOutputs };
}

function setInput(draft: Inferred['draft'], f: Fields, channels: ModelManifest['input']['channels'], scale: number, mean: number[], std: number[], from: string | undefined): void {
  Object.assign(draft.input, { channels, scale, mean, std });
  for (const [k, v] of [['channels', channels], ['scale', scale], ['mean', mean], ['std', std]] as const) {
    if (from) f.inferred(`input.${k}`, v, from);
    else f.defaulted(`input.${k}`, v, 'Visor default (RGB, 0-1); check it against how the model was trained');
  }
}

function inputSize(g: GraphInfo, dims: Dim[], family: ExportFamily, given: InitOptions['size'], f: Fields): { width: number; height: number } {
  const [, , h, w] = dims;
  if (typeof h === 'number' && typeof w === 'number') {
    if (given && (given.width !== w || given.height !== h)) throw new ModelPackageError(`--size ${given.width}x${given.height} differs from the graph input ${w}x${h}`);
    f.inferred('input.width/height', `${w}x${h}`, 'the graph input shape');
    return { width: w, height: h };
  }
  if (given) {
    f.inferred('input.width/height', `${given.width}x${given.height}`, '--size (the graph leaves it free)');
    return given;
  }
  if (family === 'yolo' && g.metadata.imgsz) {
    const m = /(\d+)\D+(\d+)/.exec(g.metadata.imgsz);
    if (m) {
      f.inferred('input.width/height', `${m[2]}x${m[1]}`, 'ONNX metadata imgsz [height, width]');
      return { width: Number(m[2]), height: Number(m[1]) };
    }
  }
  throw new ModelPackageError(`graph input is [${dims.join(',')}]: its size is not fixed; give --size WIDTHxHEIGHT (the size the model was trained at)`);
}

function firstTensor(g: GraphInfo, accept: (o: GraphValue) => boolean = () => true): GraphValue {
  const t = g.outputs.find((o) => o.kind === 'tensor' && accept(o));
  if (!t) throw new ModelPackageError(`no usable tensor output among ${g.outputs.map((o) => `"${o.name}" (${o.kind})`).join(', ')}`);
  return t;
}

/** Ultralytics writes names as a Python dict's str(): {0: 'crack', 1: "it's"}. */
export function parseUltralyticsNames(text: string): string[] {
  const entries = [...text.matchAll(/(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g)].map((m) => [Number(m[1]), (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1')] as const);
  entries.sort((a, b) => a[0] - b[0]);
  return entries.map(([, n]) => n);
}

/** The YOLO layout an output has: end-to-end [1,N,6(+m)], YOLOv8 [1,4+nc(+m),N], YOLOv5 [1,N,5+nc(+m)]. */
function yoloFormat(out: GraphValue, nc: number, m: number, meta: Record<string, string>): DetectionFormat {
  const [, a, b] = out.dims;
  const fits = (f: DetectionFormat, d: Dim | undefined) => d === detectionRowLength(f, nc, m);
  const end2end = /'(nms|end2end)':\s*True/.test(meta.args ?? '') || meta.end2end === 'True';
  if (fits('end2end', b) && (end2end || !fits('yolov8', a))) return 'end2end';
  if (fits('yolov8', a)) return 'yolov8';
  if (fits('yolov5', b)) return 'yolov5';
  if (fits('yolov8', b)) return 'yolov8';
  throw new ModelPackageError(
    `output "${out.name}" is [${out.dims.join(',')}], which is none of the YOLO layouts for ${nc} classes${m ? ` and ${m} mask coefficients` : ''}: ` +
      `[1,${detectionRowLength('yolov8', nc, m)},N] (YOLOv8/11), [1,N,${detectionRowLength('yolov5', nc, m)}] (YOLOv5), [1,N,${detectionRowLength('end2end', nc, m)}] (end-to-end)`,
  );
}

interface Albumentations {
  normalize?: { mean: number[]; std: number[]; max_pixel_value?: number };
  centerCrop: boolean;
}

/** anomalib v1 writes its transform as albumentations' to_dict(): { transform: { transforms: [{ __class_fullname__, … }] } }. */
function albumentations(transform: unknown): Albumentations {
  const list = ((transform as { transform?: { transforms?: unknown[] } })?.transform?.transforms ?? []) as Record<string, unknown>[];
  const out: Albumentations = { centerCrop: false };
  for (const t of list) {
    const name = String(t.__class_fullname__ ?? '');
    if (name.endsWith('Normalize')) {
      const arr = (v: unknown) => (Array.isArray(v) ? v.map(Number) : [Number(v)]);
      out.normalize = { mean: arr(t.mean), std: arr(t.std), ...(typeof t.max_pixel_value === 'number' ? { max_pixel_value: t.max_pixel_value } : {}) };
    }
    if (name.endsWith('CenterCrop')) out.centerCrop = true;
  }
  return out;
}

/** Defaults for what no export records, then the schema's own check. */
function complete(inf: Inferred, name: string, sha256: string, provenance: Record<string, unknown>, fields: FieldSource[]): ModelManifest {
  const d = inf.draft;
  const manifest = {
    name,
    version: '1.0.0',
    task: d.task,
    input: d.input,
    ...(d.geometry ? { geometry: d.geometry } : {}),
    outputs: d.outputs,
    ...(d.softmax !== undefined ? { softmax: d.softmax } : {}),
    labels: d.labels ?? [],
    ...(d.anomaly ? { anomaly: d.anomaly } : {}),
    ...(d.detection ? { detection: d.detection } : {}),
    ...(d.scoreRange ? { scoreRange: d.scoreRange } : {}),
    thresholds: d.thresholds ?? { defect: 0.5, uncertainBand: 0.1 },
    provenance,
    sha256,
  };
  fields.push({ field: 'name', value: name, how: 'inferred', from: 'the ONNX file name (or --name)' });
  fields.push({ field: 'version', value: '1.0.0', how: 'default', from: 'Visor default; set your own' });
  if (!d.thresholds) fields.push({ field: 'thresholds', value: manifest.thresholds, how: 'default', from: 'Visor default for probabilities; calibrate, then set it in config, the twin or the review UI' });
  if (d.task === 'detection') fields.push({ field: 'detection.minScore/iouThreshold/maxBoxes', value: '0.25 / 0.45 / 100', how: 'default', from: 'Visor default (Ultralytics predict uses conf 0.25)' });
  return parseManifest(manifest, 'the inferred manifest');
}

/** A package name from a file name: lower case, runs of other characters become "-". */
export function packageName(file: string): string {
  const base = path.basename(file, path.extname(file)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  return base || 'model';
}

/** `visor model init`: the export → a model package in `outDir`. */
export async function initModelPackage(opts: InitOptions): Promise<InitResult> {
  const bytes = await readFile(opts.onnxFile).catch((err: unknown) => {
    throw new ModelPackageError(`cannot read ${opts.onnxFile}: ${errorMessage(err)}`, { cause: err });
  });
  const model = decodeModel(bytes);
  const g = graphInfo(model);
  const side = await readSidecars(opts.onnxFile, opts.labelsFile);
  const inf = inferFromExport(g, side, { ...(opts.from ? { from: opts.from } : {}), ...(opts.size ? { size: opts.size } : {}) });

  const outDir = path.resolve(opts.outDir);
  const existing = await stat(path.join(outDir, MANIFEST_FILE)).catch(() => undefined);
  if (existing) throw new ModelPackageError(`${path.join(outDir, MANIFEST_FILE)} exists already; choose another --out or remove it`);
  await mkdir(outDir, { recursive: true });
  const onnxOut = path.join(outDir, ONNX_FILE);
  const originalSha = createHash('sha256').update(bytes).digest('hex');
  let rewritten: string | undefined;
  if (inf.exposeOutputs.length > 0) {
    const graph = model.graph!;
    for (const name of inf.exposeOutputs) graph.output!.push({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } });
    await writeFile(onnxOut, onnx.ModelProto.encode(model).finish());
    rewritten = `exposed ${inf.exposeOutputs.map((n) => `"${n}"`).join(', ')} as graph output${inf.exposeOutputs.length > 1 ? 's' : ''} (onnxruntime-node reads only tensor outputs)`;
  } else {
    await copyFile(opts.onnxFile, onnxOut);
  }
  const provenance: Record<string, unknown> = {
    importedFrom: path.basename(opts.onnxFile),
    exporter: inf.family,
    originalSha256: originalSha,
    ...(rewritten ? { rewritten } : {}),
    ...exporterNotes(g),
  };
  // The exporter's side files go into the package too: `visor model check` compares against them.
  for (const file of side.files) await copyFile(file, path.join(outDir, path.basename(file)));
  const fields = [...inf.fields];
  const manifest = complete(inf, opts.name ?? packageName(opts.onnxFile), await sha256File(onnxOut), provenance, fields);
  await writeFile(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir: outDir, family: inf.family, manifest, fields, ...(rewritten ? { rewritten } : {}) };
}

/** A few metadata_props worth keeping for the model card (not the whole set: Ultralytics' args are long). */
function exporterNotes(g: GraphInfo): Record<string, unknown> {
  const keep = ['description', 'author', 'date', 'version', 'license', 'task', 'model_info model_type'];
  const notes = Object.fromEntries(keep.filter((k) => g.metadata[k] !== undefined).map((k) => [k, g.metadata[k]]));
  return Object.keys(notes).length > 0 ? { exporterMetadata: notes } : {};
}
