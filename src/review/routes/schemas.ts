// Schemas shared by the review routes (TypeBox: the validator and the TS type from one source).
import { Type } from '@sinclair/typebox';
import { InspectionSchema as Inspection, VerdictSchema } from '../../common/types.js';
import { ReviewStateSchema } from '../../store/index.js';

export const Id = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
export const CameraId = Type.String({ pattern: '^[a-z0-9_-]{1,63}$' });
export { VerdictSchema };
export const RoleSchema = Type.Union([Type.Literal('operator'), Type.Literal('engineer'), Type.Literal('admin')]);
export const ErrorSchema = Type.Object({ error: Type.String(), code: Type.String() });

export const UserSchema = Type.Object({ id: Type.Integer(), name: Type.String(), role: RoleSchema, createdAt: Type.Number(), disabled: Type.Boolean() });

export { RecordedReviewSchema, ReviewStateSchema } from '../../store/index.js';

/** An inspection as the API shows it: the Inspection schema with image URLs instead of store paths, and the review in force. */
export const InspectionSchema = Type.Composite([
  Type.Omit(Inspection, ['imagePath', 'overlayPath']),
  Type.Object({ imageUrl: Type.Optional(Type.String()), overlayUrl: Type.Optional(Type.String()), review: Type.Optional(ReviewStateSchema) }),
]);

export const ThresholdsSchema = Type.Object({ defect: Type.Number(), uncertainBand: Type.Number({ minimum: 0 }) }, { additionalProperties: false });
