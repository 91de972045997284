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
          targetFalseAlarmRate: Type.Optional(Type.Number()),
          heldOutGood: Type.Optional(Type.Integer()),
          heldOutDefect: Type.Optional(Type.Integer()),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ManifestSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    version: Type.String({ minLength: 1 }),
    task: Type.Union([Type.Literal('anomaly'), Type.Literal('classification'), Type.Literal('detection')]),
    description: Type.Optional(Type.String()),
    input: Type.Object(
      {
        name: Type.String({ description: 'Graph input name.' }),
        width: Type.Integer({ minimum: 1 }),
        height: Type.Integer({ minimum: 1 }),
        layout: Type.Literal('NCHW'),
        channels: Type.Union([Type.Literal('RGB'), Type.Literal('BGR'), Type.Literal('GRAY')]),
        /** Pixel value p (0..255) becomes (p * scale - mean[c]) / std[c]. */
        scale: Type.Number({ default: 1 / 255 }),
        mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3 }),
        std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3 }),
      },
      { additionalProperties: false },
    ),
    /**
     * How an image becomes model input (src/common/geometry.ts). Absent: stretched to the input
     * size, one tile (packages written before geometry was recorded).
     */
    geometry: Type.Optional(
      Type.Object(
        {
          resize: Type.Union([Type.Literal('stretch'), Type.Literal('pad'), Type.Literal('crop')], {
            description: 'stretch: aspect ratio ignored; pad: aspect kept, the whole image seen, black bands; crop: aspect kept, centre cut.',
          }),
          frame: Type.Optional(
            Type.Object(
              { width: Type.Integer({ minimum: 1 }), height: Type.Integer({ minimum: 1 }) },
              { additionalProperties: false, description: 'Size the image is brought to before it is cut into tiles. Default: the input size.' },
            ),
          ),
          tiles: Type.Optional(
            Type.Object(
              { columns: Type.Integer({ minimum: 1 }), rows: Type.Integer({ minimum: 1 }) },
              { additionalProperties: false, description: 'Overlapping input-size tiles over the frame; the image score is the worst tile, the heat map is stitched. Default 1x1.' },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    outputs: Type.Object(
      {
        /** anomaly: image score, shape [1] or [1,1]. */
        score: Type.Optional(Type.String()),
        /** anomaly: heat map, shape [1,1,h,w] or [1,h,w]. */
        heatmap: Type.Optional(Type.String()),
        /** classification: logits or probabilities, shape [1, labels]. */
        logits: Type.Optional(Type.String()),
        /** detection: YOLO-style [1, 4 + classes, anchors] (cx, cy, w, h, class scores). */
        detections: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    /** classification: apply softmax to the logits output (default true); false when the graph already outputs probabilities, which are used as they are. */
    softmax: Type.Optional(Type.Boolean()),
    labels: Type.Array(Type.String(), { default: [] }),
    /** classification / detection: labels that count as defects (default: every label except "good"/"ok"). */
    defectLabels: Type.Optional(Type.Array(Type.String())),
    detection: Type.Optional(
      Type.Object(
        {
          iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45 }),
          minScore: Type.Number({ minimum: 0, maximum: 1, default: 0.25 }),
          maxBoxes: Type.Integer({ minimum: 1, default: 100 }),
        },
        { additionalProperties: false },
      ),
    ),
    thresholds: ThresholdsSchema,
    provenance: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of model.onnx' }),
  },
  { additionalProperties: false },
);

export type ModelManifest = Static<typeof ManifestSchema>;
