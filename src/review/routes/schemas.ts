// Schemas shared by the review routes (TypeBox: the validator and the TS type from one source).
import { Type } from '@sinclair/typebox';

export const Id = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
export const CameraId = Type.String({ pattern: '^[a-z0-9_-]{1,63}$' });
export const VerdictSchema = Type.Union([Type.Literal('ok'), Type.Literal('uncertain'), Type.Literal('defect')]);
export const RoleSchema = Type.Union([Type.Literal('operator'), Type.Literal('engineer'), Type.Literal('admin')]);
export const ErrorSchema = Type.Object({ error: Type.String(), code: Type.String() });

export const UserSchema = Type.Object({ id: Type.Integer(), name: Type.String(), role: RoleSchema, createdAt: Type.Number(), disabled: Type.Boolean() });

export const ReviewStateSchema = Type.Object({ decision: Type.String(), label: Type.Union([Type.String(), Type.Null()]), user: Type.String(), at: Type.Number() });

export const InspectionSchema = Type.Object({
  id: Type.String(),
  cameraId: Type.String(),
  frameSeq: Type.Integer(),
  capturedAt: Type.Number(),
  inferredAt: Type.Number(),
  decidedAt: Type.Number(),
  verdict: VerdictSchema,
  score: Type.Number(),
  classes: Type.Optional(Type.Array(Type.Object({ label: Type.String(), score: Type.Number() }))),
  boxes: Type.Optional(
    Type.Array(Type.Object({ x1: Type.Number(), y1: Type.Number(), x2: Type.Number(), y2: Type.Number(), label: Type.String(), score: Type.Number() })),
  ),
  model: Type.Object({ name: Type.String(), version: Type.String(), task: Type.String() }),
  thresholds: Type.Object({ defect: Type.Number(), uncertainBand: Type.Number() }),
  timings: Type.Record(Type.String(), Type.Number()),
  imageUrl: Type.Optional(Type.String()),
  overlayUrl: Type.Optional(Type.String()),
  sourceFile: Type.Optional(Type.String()),
  review: Type.Optional(ReviewStateSchema),
});

export const ThresholdsSchema = Type.Object({ defect: Type.Number(), uncertainBand: Type.Number({ minimum: 0 }) }, { additionalProperties: false });
