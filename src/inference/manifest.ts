// model.json: the manifest of a model package. The runtime refuses a package whose
// manifest and graph disagree (see package.ts).
import { Type, type Static } from '@sinclair/typebox';

export const ThresholdsSchema = Type.Object(
  {
    defect: Type.Number({ description: 'Score at or above which a frame is a defect.' }),
    uncertainBand: Type.Number({ minimum: 0, description: 'Scores in [defect - uncertainBand, defect) are uncertain.' }),
    calibration: Type.Optional(
      Type.Object(
        {
          method: Type.String({ description: 'How the thresholds were derived, in words.' }),
          targetFalseAlarmRate: Type.Optional(Type.Number({ description: 'Share of good images allowed over the threshold when it was set.' })),
          heldOutGood: Type.Optional(Type.Integer({ description: 'Good images held out to calibrate on.' })),
          heldOutDefect: Type.Optional(Type.Integer({ description: 'Defect images held out to calibrate on.' })),
        },
        { additionalProperties: true, description: 'How the thresholds came about (more keys allowed).' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Verdict thresholds; config, the module twin and the review UI can move them at runtime.' },
);

const Unit = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

export const ManifestSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'Package name: lower-case letters, digits, ".", "_", "-".' }),
    version: Type.String({ minLength: 1, description: 'Package version; shown with every inspection.' }),
    task: Type.Union([Type.Literal('anomaly'), Type.Literal('classification'), Type.Literal('detection')], { description: 'What the model does; decides how its outputs are read.' }),
    description: Type.Optional(Type.String({ description: 'Free text.' })),
    input: Type.Object(
      {
        name: Type.String({ description: 'Graph input name.' }),
        width: Type.Integer({ minimum: 1, description: 'Input width in pixels.' }),
        height: Type.Integer({ minimum: 1, description: 'Input height in pixels.' }),
        layout: Type.Literal('NCHW', { description: 'Tensor layout of the input (planar, batch first).' }),
        channels: Type.Union([Type.Literal('RGB'), Type.Literal('BGR'), Type.Literal('GRAY')], { description: 'Channel order the graph expects.' }),
        scale: Type.Number({ default: 1 / 255, description: 'Pixel value p (0..255) becomes (p * scale - mean[c]) / std[c]: 1/255 for 0-1 input, 1 for 0-255 input.' }),
        mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3, description: 'Per channel (model order), after scaling; one value for all.' }),
        std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3, description: 'Per channel (model order), after scaling; one value for all.' }),
      },
      { additionalProperties: false, description: 'The graph input and how pixels become its values.' },
    ),
    geometry: Type.Optional(
      Type.Object(
        {
          resize: Type.Union([Type.Literal('stretch'), Type.Literal('pad'), Type.Literal('crop')], {
            description: 'stretch: aspect ratio ignored; pad: aspect kept, the whole image seen, bands of padValue (a letterbox); crop: aspect kept, centre cut.',
          }),
          padValue: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Gray level of the pad bands (0 black; Ultralytics letterbox: 114). Default 0.' })),
          frame: Type.Optional(
            Type.Object(
              { width: Type.Integer({ minimum: 1, description: 'Frame width in pixels.' }), height: Type.Integer({ minimum: 1, description: 'Frame height in pixels.' }) },
              { additionalProperties: false, description: 'Size the image is brought to before it is cut into tiles. Default: the input size.' },
            ),
          ),
          tiles: Type.Optional(
            Type.Object(
              { columns: Type.Integer({ minimum: 1, description: 'Tiles across.' }), rows: Type.Integer({ minimum: 1, description: 'Tiles down.' }) },
              { additionalProperties: false, description: 'Overlapping input-size tiles over the frame; the image score is the worst tile, the heat map is stitched. Default 1x1.' },
            ),
          ),
        },
        { additionalProperties: false, description: 'How an image becomes model input (src/common/geometry.ts). Absent: stretched to the input size, one tile.' },
      ),
    ),
    outputs: Type.Object(
      {
        score: Type.Optional(Type.String({ description: 'anomaly: image score, one value per image ([1], [1,1]).' })),
        heatmap: Type.Optional(Type.String({ description: 'anomaly: anomaly map, [1,1,h,w], [1,h,w] or [h,w].' })),
        mask: Type.Optional(Type.String({ description: 'anomaly: predicted mask (anomalib pred_mask, bool or 0/1), drawn when there is no heatmap output.' })),
        logits: Type.Optional(Type.String({ description: 'classification: logits or probabilities, [1, labels].' })),
        detections: Type.Optional(Type.String({ description: 'detection: the boxes tensor; its layout is detection.format.' })),
        prototypes: Type.Optional(Type.String({ description: 'detection: YOLO-seg mask prototypes [1, m, mh, mw]; the detections then carry m mask coefficients after the class scores.' })),
        classes: Type.Optional(Type.String({ description: 'detection, format boxes-labels: class ids [1, N] (int64) of the boxes.' })),
      },
      { additionalProperties: false, description: 'Which graph output plays which role.' },
    ),
    softmax: Type.Optional(Type.Boolean({ description: 'classification: apply softmax to the logits output (default true); false when the graph already outputs probabilities.' })),
    labels: Type.Array(Type.String(), { default: [], description: 'Class names in output order.' }),
    defectLabels: Type.Optional(Type.Array(Type.String(), { description: 'classification / detection: labels that count as defects. Default: every label except "good"/"ok".' })),
    anomaly: Type.Optional(
      Type.Object(
        {
          normalization: Type.Optional(
            Type.Object(
              {
                imageThreshold: Type.Number({ description: "The exporter's image threshold on the raw score." }),
                min: Type.Number({ description: 'Raw image score minimum seen in validation.' }),
                max: Type.Number({ description: 'Raw image score maximum seen in validation.' }),
                pixelThreshold: Type.Optional(Type.Number({ description: "The exporter's pixel threshold on the raw map (default imageThreshold)." })),
                mapMin: Type.Optional(Type.Number({ description: 'Raw anomaly map minimum (default min).' })),
                mapMax: Type.Optional(Type.Number({ description: 'Raw anomaly map maximum (default max).' })),
              },
              {
                additionalProperties: false,
                description: 'Min-max normalisation of raw scores (anomalib v1 metadata.json, Geti): ((raw - threshold) / (max - min)) + 0.5, clipped to 0..1, so the exporter threshold becomes 0.5.',
              },
            ),
          ),
        },
        { additionalProperties: false, description: 'anomaly: how raw scores are read.' },
      ),
    ),
    detection: Type.Optional(
      Type.Object(
        {
          format: Type.Optional(
            Type.Union([Type.Literal('yolov8'), Type.Literal('yolov5'), Type.Literal('end2end'), Type.Literal('boxes-labels')], {
              description:
                'yolov8: [1, 4+nc(+m), N] cx,cy,w,h, class scores (YOLOv8/11, also [1, N, 4+nc]); yolov5: [1, N, 5+nc] cx,cy,w,h, objectness, class scores; end2end: [1, N, 6] x1,y1,x2,y2, score, class (YOLOv10/YOLO26, nms=True exports; no NMS applied); boxes-labels: [1, N, 5] x1,y1,x2,y2, score with class ids in outputs.classes (Geti / OpenVINO Training Extensions, mmdeploy; no NMS applied). Default yolov8.',
            }),
          ),
          iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45, description: 'Boxes of one class overlapping more than this are merged (NMS).' }),
          minScore: Type.Number({ minimum: 0, maximum: 1, default: 0.25, description: 'Boxes below this confidence are dropped.' }),
          classMinScore: Type.Optional(Type.Record(Type.String(), Unit('per class'), { description: 'Per-class confidence floor (label: score), overrides minScore for that label.' })),
          maxBoxes: Type.Integer({ minimum: 1, default: 100, description: 'At most this many boxes per image.' }),
        },
        { additionalProperties: false, description: 'detection: output layout and box filtering.' },
      ),
    ),
    scoreRange: Type.Optional(
      Type.Object(
        { min: Type.Number({ description: 'Lowest score.' }), max: Type.Number({ description: 'Highest score.' }) },
        { additionalProperties: false, description: 'Range image scores fall in, for threshold sliders. Default: 0..1 for classification, detection and normalised anomaly scores; unknown for raw anomaly scores.' },
      ),
    ),
    thresholds: ThresholdsSchema,
    provenance: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Where the model came from (training data, exporter, original file hash).' })),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of model.onnx' }),
  },
  { additionalProperties: false },
);

export type ModelManifest = Static<typeof ManifestSchema>;

export interface ThresholdBounds {
  /** What the package calibrated (or its exporter set): the runtime's starting point. */
  calibrated: { defect: number; uncertainBand: number };
  /** Where scores can lie; undefined for raw anomaly scores of unknown range. */
  scoreRange?: { min: number; max: number };
}

/**
 * What a threshold setting can sensibly be for this model (review UI sliders, twin checks):
 * probabilities and normalised anomaly scores lie in 0..1; a raw score's range only the manifest knows.
 */
export function thresholdBounds(m: ModelManifest): ThresholdBounds {
  const calibrated = { defect: m.thresholds.defect, uncertainBand: m.thresholds.uncertainBand };
  const unit = m.task !== 'anomaly' || m.anomaly?.normalization !== undefined;
  const scoreRange = m.scoreRange ?? (unit ? { min: 0, max: 1 } : undefined);
  return scoreRange ? { calibrated, scoreRange } : { calibrated };
}
