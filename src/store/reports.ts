// The shift report: what a line inspected in a time range (by capture time), by camera and
// verdict, how much of it reviewers looked at, how often they agreed with the model, and the
// highest-scoring defects. Read-only queries over `inspections` and `review_state`.
import type Database from 'better-sqlite3';
import type { Verdict } from '../common/types.js';

export interface ShiftRange {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
}

export interface ShiftCounts {
  total: number;
  ok: number;
  uncertain: number;
  defect: number;
  /** A reviewer gave a label (confirmed, rejected or relabeled; "needs expert" is not one). */
  reviewed: number;
  /** total − reviewed. */
  unreviewed: number;
  /** Marked "needs expert": waiting for a label. */
  needsExpert: number;
  /** Defect and uncertain frames no reviewer has looked at: the queue left for the next shift. */
  flaggedUnreviewed: number;
  /** Reviewed, and the reviewer agreed with the model: ok and good, or defect and defect. */
  agreed: number;
  /** Reviewed, and the reviewer disagreed: ok but defect, or defect but good. Uncertain frames count in neither. */
  disagreed: number;
}

/** What reviewers said, in three groups: good, defect (confirmed, or relabeled to a class), and not decided. */
export type ReviewerCall = 'good' | 'defect' | 'needs-expert';

export interface ShiftAgreement {
  /** Reviewed inspections of all cameras by model verdict and reviewer call. */
  matrix: { verdict: Verdict; reviewer: ReviewerCall; n: number }[];
  /** totals.agreed / (totals.agreed + totals.disagreed); undefined when neither happened. */
  rate: number | undefined;
}

export interface ShiftDefect {
  id: string;
  cameraId: string;
  capturedAt: number;
  score: number;
  hasImage: boolean;
  hasOverlay: boolean;
  /** The reviewer's label, when there is one. */
  reviewLabel: string | undefined;
}

export interface ShiftReport extends ShiftRange {
  cameras: ({ cameraId: string } & ShiftCounts)[];
  totals: ShiftCounts;
  agreement: ShiftAgreement;
  /** Defects with the highest scores, highest first. */
  topDefects: ShiftDefect[];
}

export const COUNT_KEYS = ['total', 'ok', 'uncertain', 'defect', 'reviewed', 'unreviewed', 'needsExpert', 'flaggedUnreviewed', 'agreed', 'disagreed'] as const;

/** Whether a reviewer's call agrees with the model's verdict: undefined when there is no side to take (uncertain, needs expert). */
function agrees(verdict: Verdict, reviewer: ReviewerCall): boolean | undefined {
  if (verdict === 'uncertain' || reviewer === 'needs-expert') return undefined;
  return (verdict === 'ok') === (reviewer === 'good');
}

export function shiftReport(db: Database.Database, range: ShiftRange, options: { topDefects?: number } = {}): ShiftReport {
  const { from, to } = range;
  const perCamera = db
    .prepare<[number, number], { cameraId: string } & Omit<ShiftCounts, 'agreed' | 'disagreed'>>(
      `SELECT i.camera_id AS cameraId, COUNT(*) AS total,
              SUM(i.verdict = 'ok') AS ok, SUM(i.verdict = 'uncertain') AS uncertain, SUM(i.verdict = 'defect') AS defect,
              SUM(r.label IS NOT NULL) AS reviewed, COUNT(*) - SUM(r.label IS NOT NULL) AS unreviewed,
              SUM(r.decision IS 'needs-expert') AS needsExpert,
              SUM(i.verdict <> 'ok' AND r.inspection_id IS NULL) AS flaggedUnreviewed
       FROM inspections i LEFT JOIN review_state r ON r.inspection_id = i.id
       WHERE i.captured_at >= ? AND i.captured_at < ?
       GROUP BY i.camera_id ORDER BY i.camera_id`,
    )
    .all(from, to);
  const calls = db
    .prepare<[number, number], { cameraId: string; verdict: Verdict; reviewer: ReviewerCall; n: number }>(
      `SELECT i.camera_id AS cameraId, i.verdict AS verdict,
              CASE WHEN r.label IS NULL THEN 'needs-expert' WHEN r.label = 'good' THEN 'good' ELSE 'defect' END AS reviewer,
              COUNT(*) AS n
       FROM review_state r JOIN inspections i ON i.id = r.inspection_id
       WHERE i.captured_at >= ? AND i.captured_at < ?
       GROUP BY 1, 2, 3`,
    )
    .all(from, to);
  const cameras = perCamera.map((c) => {
    const mine = calls.filter((k) => k.cameraId === c.cameraId);
    const count = (agree: boolean) => mine.filter((k) => agrees(k.verdict, k.reviewer) === agree).reduce((sum, k) => sum + k.n, 0);
    return { ...c, agreed: count(true), disagreed: count(false) };
  });
  const totals = Object.fromEntries(COUNT_KEYS.map((k) => [k, cameras.reduce((sum, c) => sum + c[k], 0)])) as unknown as ShiftCounts;
  const matrix: ShiftAgreement['matrix'] = [];
  for (const k of calls) {
    const row = matrix.find((m) => m.verdict === k.verdict && m.reviewer === k.reviewer);
    if (row) row.n += k.n;
    else matrix.push({ verdict: k.verdict, reviewer: k.reviewer, n: k.n });
  }

  const topDefects = db
    .prepare<[number, number, number], { id: string; cameraId: string; capturedAt: number; score: number; image: string | null; overlay: string | null; label: string | null }>(
      `SELECT i.id, i.camera_id AS cameraId, i.captured_at AS capturedAt, i.score, i.image_path AS image, i.overlay_path AS overlay, r.label
       FROM inspections i LEFT JOIN review_state r ON r.inspection_id = i.id
       WHERE i.verdict = 'defect' AND i.captured_at >= ? AND i.captured_at < ?
       ORDER BY i.score DESC, i.id LIMIT ?`,
    )
    .all(from, to, options.topDefects ?? 12)
    .map((d) => ({ id: d.id, cameraId: d.cameraId, capturedAt: d.capturedAt, score: d.score, hasImage: d.image !== null, hasOverlay: d.overlay !== null, reviewLabel: d.label ?? undefined }));

  return {
    from,
    to,
    cameras,
    totals,
    agreement: { matrix, rate: agreementRate(totals) },
    topDefects,
  };
}

export function agreementRate(counts: Pick<ShiftCounts, 'agreed' | 'disagreed'>): number | undefined {
  const decided = counts.agreed + counts.disagreed;
  return decided > 0 ? counts.agreed / decided : undefined;
}
