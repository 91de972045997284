// Tiny ONNX graphs shaped like each exporter's output (names, shapes, dtypes, metadata keys), built
// with onnx-proto. The maths is small on purpose; what matters is that the conventions match the
// exporters', so `visor model init` and the runtime read them as they would a real export.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

type Dim = number | string;
type Node = onnxProto.onnx.INodeProto;

const enc = (s: string) => new TextEncoder().encode(s);

function tensorInfo(name: string, dims: Dim[] | undefined, elemType: number = T.FLOAT): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}) } } };
}

function floats(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: T.FLOAT, floatData: values };
}

const axes = (name: string, v: number[]) => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number) => ({ name, type: A.INT, i: v });

function encode(graph: onnxProto.onnx.IGraphProto, metadata: Record<string, string> = {}, ml = false): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, ...(ml ? [{ domain: 'ai.onnx.ml', version: 2 }] : [])],
    producerName: 'visor-tests',
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** mean over channels and pixels of the input, shape [1,1,1]: the "brightness" every fixture scores by. */
function brightness(x: string, out: string): Node {
  return { opType: 'ReduceMean', input: [x], output: [out], attribute: [axes('axes', [1, 2, 3]), int('keepdims', 0)] };
}

/**
 * anomalib v1 (src/anomalib/deploy/export.py, export_to_onnx): input "input" [batch_size,3,H,W],
 * one output "output", the raw anomaly map [batch_size,1,H,W]; image score = the map's maximum,
 * normalised with metadata.json (image_threshold, pixel_threshold, pred_scores.min/max,
 * anomaly_maps.min/max; base_inferencer.py _normalize) — see anomalibV1Metadata.
 * Here the raw map is the channel mean of the (ImageNet-normalised) input, average-pooled 4x4.
 */
export function anomalibV1Graph(size = 32): Uint8Array {
  return encode({
    name: 'anomalib-v1',
    node: [
      { opType: 'ReduceMean', input: ['input'], output: ['mean'], attribute: [axes('axes', [1]), int('keepdims', 1)] },
      { opType: 'AveragePool', input: ['mean'], output: ['pooled'], attribute: [axes('kernel_shape', [4, 4]), axes('strides', [4, 4])] },
      { opType: 'Resize', input: ['pooled', '', 'scales'], output: ['output'], attribute: [{ name: 'mode', type: A.STRING, s: enc('nearest') }] },
    ],
    initializer: [floats('scales', [4], [1, 1, 4, 4])],
    input: [tensorInfo('input', ['batch_size', 3, size, size])],
    output: [tensorInfo('output', ['batch_size', 1, size, size])],
  });
}

/** anomalib v1 metadata.json (export.py _write_metadata_to_json / get_metadata): albumentations transform dict and the normalisation stats. */
export function anomalibV1Metadata(size = 32): Record<string, unknown> {
  return {
    task: 'segmentation',
    transform: {
      __version__: '1.3.1',
      transform: {
        __class_fullname__: 'Compose',
        transforms: [
          { __class_fullname__: 'Resize', always_apply: true, p: 1, height: size, width: size, interpolation: 1 },
          { __class_fullname__: 'Normalize', always_apply: false, p: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], max_pixel_value: 255 },
          { __class_fullname__: 'ToTensorV2', always_apply: true, p: 1, transpose_mask: false },
        ],
      },
    },
    image_threshold: 0,
    pixel_threshold: 0,
    'pred_scores.min': -2,
    'pred_scores.max': 2.5,
    'anomaly_maps.min': -2,
    'anomaly_maps.max': 2.5,
  };
}

/**
 * anomalib v2 (src/anomalib/models/components/base/export_mixin.py to_onnx, with the outputs of
 * InferenceBatch: pred_score, pred_label, anomaly_map, pred_mask): pre-processing and the
 * post-processor's normalisation are inside the graph, so pred_score is 0..1 with 0.5 as the
 * threshold, pred_label and pred_mask are bool. Here anomaly_map = channel mean of the 0-1 input.
 */
export function anomalibV2Graph(size = 32): Uint8Array {
  return encode({
    name: 'anomalib-v2',
    node: [
      { opType: 'ReduceMean', input: ['input'], output: ['anomaly_map'], attribute: [axes('axes', [1]), int('keepdims', 1)] },
      { opType: 'ReduceMax', input: ['anomaly_map'], output: ['pred_score'], attribute: [axes('axes', [1, 2, 3]), int('keepdims', 0)] },
      { opType: 'GreaterOrEqual', input: ['pred_score', 'half'], output: ['pred_label'] },
      { opType: 'GreaterOrEqual', input: ['anomaly_map', 'half'], output: ['pred_mask'] },
    ],
    initializer: [floats('half', [], [0.5])],
    input: [tensorInfo('input', ['batch_size', 3, size, size])],
    output: [
      tensorInfo('pred_score', ['batch_size']),
      tensorInfo('pred_label', ['batch_size'], T.BOOL),
      tensorInfo('anomaly_map', ['batch_size', 1, size, size]),
      tensorInfo('pred_mask', ['batch_size', 1, size, size], T.BOOL),
    ],
  });
}

/** A box in input pixels and which class it is for; the fixtures score every box by brightness. */
export interface FixtureBox {
  cx: number;
  cy: number;
  w: number;
  h: number;
  cls: number;
}

/**
 * Ultralytics metadata_props (ultralytics/engine/exporter.py: self.metadata, written as
 * str(value) per key by export_onnx): description, author, date, version, license, docs, stride,
 * task, batch, imgsz, names (a Python dict), args, channels.
 */
export function ultralyticsMetadata(task: string, names: string[], size: number, args: Record<string, string> = {}): Record<string, string> {
  const py = `{${names.map((n, i) => `${i}: '${n}'`).join(', ')}}`;
  const argText = `{${Object.entries({ batch: '1', half: 'False', dynamic: 'False', simplify: 'True', nms: 'False', ...args }).map(([k, v]) => `'${k}': ${v}`).join(', ')}}`;
  return {
    description: 'Ultralytics YOLO11n model trained on parts.yaml',
    author: 'Ultralytics',
    date: '2026-11-30T10:00:00',
    version: '8.3.200',
    license: 'AGPL-3.0 License (https://ultralytics.com/license)',
    docs: 'https://docs.ultralytics.com',
    stride: '32',
    task,
    batch: '1',
    imgsz: `[${size}, ${size}]`,
    names: py,
    args: argText,
    channels: '3',
  };
}

/**
 * YOLOv8/11 detect (exporter.py export_onnx): input "images" [1,3,S,S], output "output0"
 * [1, 4+nc, N] (cx, cy, w, h in input pixels, then per-class scores after sigmoid). Each fixture
 * box's class score is the image brightness; every other score is 0. With `seg`, a YOLO-seg
 * export: output0 [1, 4+nc+32, N] (32 mask coefficients) and output1 prototypes [1,32,S/4,S/4].
 */
export function yolov8Graph(boxes: FixtureBox[], names: string[], size = 64, opts: { seg?: boolean } = {}): Uint8Array {
  const n = boxes.length;
  const nc = names.length;
  const m = opts.seg ? 32 : 0;
  const geometry: number[] = [];
  for (const key of ['cx', 'cy', 'w', 'h'] as const) for (const b of boxes) geometry.push(b[key]);
  const weights: number[] = [];
  for (let c = 0; c < nc; c++) for (const b of boxes) weights.push(b.cls === c ? 1 : 0);
  // Coefficient 0 is 1 for every box, the rest 0: each box's mask is sigmoid(prototype 0).
  const coefficients: number[] = [];
  for (let j = 0; j < m; j++) for (let i = 0; i < n; i++) coefficients.push(j === 0 ? 1 : 0);
  const mh = size / 4;
  const proto = new Array<number>(m * mh * mh).fill(0);
  // Prototype 0: +6 over the left half of the input, -6 elsewhere.
  for (let y = 0; y < mh; y++) for (let x = 0; x < mh; x++) proto[y * mh + x] = x < mh / 2 ? 6 : -6;
  const protoNodes: Node[] = opts.seg
    ? [
        { opType: 'Mul', input: ['b', 'zero'], output: ['bz'] },
        { opType: 'Add', input: ['protos', 'bz'], output: ['output1'] },
      ]
    : [];
  return encode(
    {
      name: opts.seg ? 'yolo-seg' : 'yolov8',
      node: [
        brightness('images', 'b'),
        { opType: 'Mul', input: ['weights', 'b'], output: ['scores'] },
        { opType: 'Concat', input: ['geometry', 'scores', ...(opts.seg ? ['coefficients'] : [])], output: ['output0'], attribute: [int('axis', 1)] },
        ...protoNodes,
      ],
      initializer: [
        floats('geometry', [1, 4, n], geometry),
        floats('weights', [1, nc, n], weights),
        ...(opts.seg ? [floats('coefficients', [1, m, n], coefficients), floats('protos', [1, m, mh, mh], proto), floats('zero', [], [0])] : []),
      ],
      input: [tensorInfo('images', [1, 3, size, size])],
      output: [tensorInfo('output0', [1, 4 + nc + m, n]), ...(opts.seg ? [tensorInfo('output1', [1, m, mh, mh])] : [])],
    },
    ultralyticsMetadata(opts.seg ? 'segment' : 'detect', names, size),
  );
}

/**
 * YOLOv5 (ultralytics/yolov5 export.py export_onnx: input "images", output "output0" [1, N, 5+nc],
 * metadata {stride, names}): rows are cx, cy, w, h, objectness, class scores; confidence =
 * objectness × class score. Objectness is the brightness; the box's class score is 0.9.
 */
export function yolov5Graph(boxes: FixtureBox[], names: string[], size = 64): Uint8Array {
  const n = boxes.length;
  const nc = names.length;
  const rows: number[] = [];
  const objectness: number[] = [];
  for (const b of boxes) {
    rows.push(b.cx, b.cy, b.w, b.h, 0, ...names.map((_, c) => (c === b.cls ? 0.9 : 0)));
    objectness.push(0, 0, 0, 0, 1, ...names.map(() => 0));
  }
  return encode(
    {
      name: 'yolov5',
      node: [brightness('images', 'b'), { opType: 'Mul', input: ['objectness', 'b'], output: ['obj'] }, { opType: 'Add', input: ['rows', 'obj'], output: ['output0'] }],
      initializer: [floats('rows', [1, n, 5 + nc], rows), floats('objectness', [1, n, 5 + nc], objectness)],
      input: [tensorInfo('images', [1, 3, size, size])],
      output: [tensorInfo('output0', [1, n, 5 + nc])],
    },
    { stride: '32', names: `{${names.map((nm, i) => `${i}: '${nm}'`).join(', ')}}` },
  );
}

/**
 * End-to-end YOLO (YOLOv10 / YOLO26, or any Ultralytics export with nms=True; exporter.py,
 * NMSModel): output0 [1, N, 6] = x1, y1, x2, y2, score, class id, already suppressed. The
 * score of each row is the brightness.
 */
export function end2endGraph(boxes: FixtureBox[], names: string[], size = 64): Uint8Array {
  const n = boxes.length;
  const rows: number[] = [];
  const score: number[] = [];
  for (const b of boxes) {
    rows.push(b.cx - b.w / 2, b.cy - b.h / 2, b.cx + b.w / 2, b.cy + b.h / 2, 0, b.cls);
    score.push(0, 0, 0, 0, 1, 0);
  }
  return encode(
    {
      name: 'yolo26',
      node: [brightness('images', 'b'), { opType: 'Mul', input: ['score', 'b'], output: ['s'] }, { opType: 'Add', input: ['rows', 's'], output: ['output0'] }],
      initializer: [floats('rows', [1, n, 6], rows), floats('score', [1, n, 6], score)],
      input: [tensorInfo('images', [1, 3, size, size])],
      output: [tensorInfo('output0', [1, n, 6])],
    },
    ultralyticsMetadata('detect', names, size, { nms: 'False', end2end: 'True' }),
  );
}

/** A [3, nc] weight matrix, zero but for the given (plane, class, weight) entries. */
function planeWeights(nc: number, entries: [number, number, number][]): number[] {
  const w = new Array<number>(3 * nc).fill(0);
  for (const [plane, cls, v] of entries) w[plane * nc + cls] = v;
  return w;
}

/** logits = GlobalAveragePool(x) · weights ([3, nc]): which input plane drives which class. */
function classifierNodes(x: string, out: string): Node[] {
  return [
    { opType: 'GlobalAveragePool', input: [x], output: ['pooled'] },
    { opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [int('axis', 1)] },
    { opType: 'MatMul', input: ['flat', 'w'], output: [out] },
  ];
}

/**
 * Custom Vision classifier, ONNX export (Azure-Samples/customvision-export-samples,
 * samples/python/onnx/classification/predict.py): input "data" [None,3,224,224], metadata_props
 * Image.BitmapPixelFormat "Bgr8" and Image.NominalPixelRange "NominalRange_0_255" (BGR, 0-255),
 * outputs "classLabel" (string tensor) and "loss", a sequence of maps label → probability made by
 * ZipMap over the softmax; labels.txt in the export zip. Here: plane 0 (blue) drives `labels[1]`.
 */
export function customVisionGraph(labels: string[], size = 32): Uint8Array {
  const nc = labels.length;
  // Plane 0 (blue, in BGR order) → labels[1], plane 2 (red) → labels[0]; 0-255 input.
  const w = planeWeights(nc, [[0, 1, 0.02], [2, 0, 0.02]]);
  return encode(
    {
      name: 'customvision',
      node: [
        ...classifierNodes('data', 'logits'),
        { opType: 'Softmax', input: ['logits'], output: ['model_outputs0'], attribute: [int('axis', 1)] },
        { opType: 'ArgMax', input: ['model_outputs0'], output: ['index'], attribute: [int('axis', 1), int('keepdims', 1)] },
        {
          opType: 'LabelEncoder',
          domain: 'ai.onnx.ml',
          input: ['index'],
          output: ['classLabel'],
          attribute: [{ name: 'keys_int64s', type: A.INTS, ints: labels.map((_, i) => i) }, { name: 'values_strings', type: A.STRINGS, strings: labels.map(enc) }],
        },
        { opType: 'ZipMap', domain: 'ai.onnx.ml', input: ['model_outputs0'], output: ['loss'], attribute: [{ name: 'classlabels_strings', type: A.STRINGS, strings: labels.map(enc) }] },
      ],
      initializer: [floats('w', [3, nc], w)],
      input: [tensorInfo('data', ['None', 3, size, size])],
      output: [
        tensorInfo('classLabel', [1, 1], T.STRING),
        { name: 'loss', type: { sequenceType: { elemType: { mapType: { keyType: T.STRING, valueType: { tensorType: { elemType: T.FLOAT } } } } } } },
      ],
    },
    { 'Image.BitmapPixelFormat': 'Bgr8', 'Image.NominalPixelRange': 'NominalRange_0_255', 'Image.ColorSpaceGamma': 'SRGB' },
    true,
  );
}

/**
 * Intel Geti / OpenVINO Training Extensions classification export (otx/core/exporter/base.py:
 * _embed_onnx_metadata writes each ("model_info", key) as metadata_props "model_info key";
 * _extend_model_metadata adds mean_values, scale_values (0-255 units), resize_type, pad_value,
 * reverse_input_channels). Output "logits" [1, nc], raw. Here plane 0 (red) drives labels[1].
 */
export function getiClassifierGraph(labels: string[], size = 32): Uint8Array {
  const nc = labels.length;
  const w = planeWeights(nc, [[0, 1, 1]]);
  return encode(
    {
      name: 'geti-classification',
      node: classifierNodes('image', 'logits'),
      initializer: [floats('w', [3, nc], w)],
      input: [tensorInfo('image', [1, 3, size, size])],
      output: [tensorInfo('logits', [1, nc])],
    },
    {
      'model_info model_type': 'Classification',
      'model_info task_type': 'classification',
      'model_info labels': labels.join(' '),
      'model_info mean_values': '123.675 116.28 103.53',
      'model_info scale_values': '58.395 57.12 57.375',
      'model_info resize_type': 'standard',
      'model_info pad_value': '0',
      'model_info reverse_input_channels': 'True',
    },
  );
}

/**
 * Geti / OTX anomaly export (otx anomaly exporter metadata: "model_info image_threshold",
 * "model_info normalization_scale", model_type "AnomalyDetection"; model_api normalises
 * ((raw - threshold) / normalization_scale) + 0.5): raw score = brightness of the 0-1 input × 10.
 */
export function getiAnomalyGraph(size = 32): Uint8Array {
  return encode(
    {
      name: 'geti-anomaly',
      node: [brightness('image', 'b'), { opType: 'Mul', input: ['b', 'ten'], output: ['pred_score'] }],
      initializer: [floats('ten', [], [10])],
      input: [tensorInfo('image', [1, 3, size, size])],
      output: [tensorInfo('pred_score', [])],
    },
    {
      'model_info model_type': 'AnomalyDetection',
      'model_info task_type': 'anomaly_detection',
      'model_info image_threshold': '6',
      'model_info normalization_scale': '4',
      'model_info mean_values': '0 0 0',
      'model_info scale_values': '255 255 255',
      'model_info resize_type': 'standard',
      'model_info pad_value': '0',
      'model_info reverse_input_channels': 'True',
    },
  );
}

/**
 * Custom Vision "[S1]" classifier export (customvision-export-samples,
 * samples/python/onnx/classification_s1/predict.py): one tensor output "model_output"
 * [1, nc] of probabilities, labels only in labels.txt; RGB 0-1 (no Bgr8 / 0_255 metadata).
 */
export function customVisionS1Graph(nc: number, size = 32): Uint8Array {
  return encode({
    name: 'customvision-s1',
    node: [...classifierNodes('data', 'logits'), { opType: 'Softmax', input: ['logits'], output: ['model_output'], attribute: [int('axis', 1)] }],
    initializer: [floats('w', [3, nc], planeWeights(nc, [[0, 1, 5], [2, 0, 5]]))],
    input: [tensorInfo('data', [1, 3, size, size])],
    output: [tensorInfo('model_output', [1, nc])],
  });
}

/**
 * Geti / OTX detector (otx/algorithms/detection/configs/base/deployments/base_detection.py, the
 * mmdeploy end2end export: input "image", outputs "boxes" [1, N, 5] = x1, y1, x2, y2, score in
 * input pixels, and "labels" [1, N] int64 class ids; metadata as getiClassifierGraph's, with
 * model_type "ssd", resize_type "fit_to_window_letterbox" and confidence_threshold). Scores are
 * the brightness.
 */
export function getiDetectorGraph(boxes: FixtureBox[], labels: string[], size = 64): Uint8Array {
  const n = boxes.length;
  const rows: number[] = [];
  const score: number[] = [];
  for (const b of boxes) {
    rows.push(b.cx - b.w / 2, b.cy - b.h / 2, b.cx + b.w / 2, b.cy + b.h / 2, 0);
    score.push(0, 0, 0, 0, 1);
  }
  return encode(
    {
      name: 'geti-detection',
      node: [
        brightness('image', 'b'),
        { opType: 'Mul', input: ['score', 'b'], output: ['s'] },
        { opType: 'Add', input: ['rows', 's'], output: ['boxes'] },
        { opType: 'Identity', input: ['ids'], output: ['labels'] },
      ],
      initializer: [floats('rows', [1, n, 5], rows), floats('score', [1, n, 5], score), { name: 'ids', dims: [1, n], dataType: T.INT64, int64Data: boxes.map((b) => b.cls) }],
      input: [tensorInfo('image', [1, 3, size, size])],
      output: [tensorInfo('boxes', [1, n, 5]), tensorInfo('labels', [1, n], T.INT64)],
    },
    {
      'model_info model_type': 'ssd',
      'model_info task_type': 'detection',
      'model_info labels': labels.join(' '),
      'model_info confidence_threshold': '0.3',
      'model_info mean_values': '0 0 0',
      'model_info scale_values': '255 255 255',
      'model_info resize_type': 'fit_to_window_letterbox',
      'model_info pad_value': '0',
      'model_info reverse_input_channels': 'True',
    },
  );
}

/**
 * A graph converted to half precision after its input (float16 outputs, as onnxconverter-common's
 * float16 conversion with keep_io_types leaves the input float32): score = brightness, as float16.
 */
export function halfOutputGraph(size = 32): Uint8Array {
  return encode({
    name: 'half-output',
    node: [brightness('x', 'b'), { opType: 'Cast', input: ['b'], output: ['score'], attribute: [int('to', T.FLOAT16)] }],
    input: [tensorInfo('x', [1, 3, size, size])],
    output: [tensorInfo('score', [], T.FLOAT16)],
  });
}

/** A graph whose score is sqrt(x - 2): NaN for every real input (for check's NaN finding). */
export function nanGraph(size = 32): Uint8Array {
  return encode({
    name: 'nan',
    node: [brightness('x', 'b'), { opType: 'Sub', input: ['b', 'two'], output: ['d'] }, { opType: 'Sqrt', input: ['d'], output: ['score'] }],
    initializer: [floats('two', [], [2])],
    input: [tensorInfo('x', [1, 3, size, size])],
    output: [tensorInfo('score', [])],
  });
}
