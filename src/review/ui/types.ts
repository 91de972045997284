// What the API returns (mirrors src/review/routes/schemas.ts).
export type Verdict = 'ok' | 'uncertain' | 'defect';
export type Role = 'operator' | 'engineer' | 'admin';
export interface User {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
  disabled: boolean;
}
export interface ReviewState {
  decision: string;
  label: string | null;
  user: string;
  at: number;
}
export interface Thresholds {
  defect: number;
  uncertainBand: number;
}
export interface Inspection {
  id: string;
  cameraId: string;
  frameSeq: number;
  capturedAt: number;
  inferredAt: number;
  decidedAt: number;
  verdict: Verdict;
  score: number;
  classes?: { label: string; score: number }[];
  boxes?: { x1: number; y1: number; x2: number; y2: number; label: string; score: number }[];
  model: { name: string; version: string; task: string };
  thresholds: Thresholds;
  timings: Record<string, number>;
  imageUrl?: string;
  overlayUrl?: string;
  sourceFile?: string;
  review?: ReviewState;
}
export interface CameraStatus {
  cameraId: string;
  state: string;
  lastError?: string;
  framesIn: number;
  framesDropped: number;
  framesCorrupt: number;
  reconnects: number;
  lastFrameAt?: number;
}
export interface LiveFrameInfo {
  cameraId: string;
  seq: number;
  inspectionId: string;
  verdict: Verdict;
  score: number;
  capturedAt: number;
  fps: number;
}
