// What the API returns: the types of the server's own response schemas and records
// (type-only imports: nothing of the server is bundled into the page).
import type { Static } from '@sinclair/typebox';
import type { InspectionSchema, RecordedReviewSchema, ReviewStateSchema, RoleSchema, ThresholdsSchema, UserSchema, VerdictSchema } from '../routes/schemas.js';
import type { PartDetailSchema, PartSchema, StationSchema } from '../routes/stations.js';

export type Verdict = Static<typeof VerdictSchema>;
export type Role = Static<typeof RoleSchema>;
export type User = Static<typeof UserSchema>;
export type ReviewState = Static<typeof ReviewStateSchema>;
export type RecordedReview = Static<typeof RecordedReviewSchema>;
export type Thresholds = Static<typeof ThresholdsSchema>;
export type Inspection = Static<typeof InspectionSchema>;
export type Part = Static<typeof PartSchema>;
export type PartDetail = Static<typeof PartDetailSchema>;
export type StationInfo = Static<typeof StationSchema>;
export type { CameraStatus } from '../../common/types.js';
export type { Decision } from '../../store/reviews.js';
export type { LiveFrameInfo } from '../live.js';
export type { AuditEntry } from '../users.js';
export type { Alarm, BoardCamera, Counts, Shift } from '../board.js';
