// backbone.json: a feature extractor for `visor fit`: an ONNX CNN whose named
// intermediate tensors are graph outputs. Built-in backbones live in
// models/backbones/<name>/{backbone.onnx,backbone.json}; any ONNX CNN with named
// intermediate tensors can be described the same way.
import { Type, type Static } from '@sinclair/typebox';

export const BackboneLayer = Type.Object(
  {
    /** Graph output name of this feature map. */
    name: Type.String({ minLength: 1 }),
    channels: Type.Integer({ minimum: 1 }),
    /** Input pixels per feature-map cell (4, 8, 16, …). */
    stride: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

export const BackboneManifestSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    description: Type.Optional(Type.String()),
    input: Type.Object(
      {
        name: Type.String(),
        /** Square input side in pixels the backbone was measured at (a fit may override it). */
        size: Type.Integer({ minimum: 16 }),
        channels: Type.Union([Type.Literal('RGB'), Type.Literal('BGR'), Type.Literal('GRAY')]),
        /** Pixel value p (0..255) becomes (p * scale - mean[c]) / std[c]. */
        scale: Type.Number(),
        mean: Type.Array(Type.Number(), { minItems: 1, maxItems: 3 }),
        std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 3 }),
      },
      { additionalProperties: false },
    ),
    /** Feature maps available as graph outputs, NCHW. */
    layers: Type.Array(BackboneLayer, { minItems: 1 }),
    /** Layers used when `visor fit` is given none. */
    defaultLayers: Type.Array(Type.String(), { minItems: 1 }),
    /** Where the weights come from and under which licence. */
    provenance: Type.Record(Type.String(), Type.Unknown()),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of backbone.onnx' }),
  },
  { additionalProperties: false },
);

export type BackboneManifest = Static<typeof BackboneManifestSchema>;
