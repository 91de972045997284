// Data contracts that cross module boundaries (see DESIGN.md, "Contracts").

/** Raw pixels of one image. `rgb24` is interleaved RGB, `gray` one byte per pixel. */
export interface RawImage {
  width: number;
  height: number;
  pixelFormat: 'rgb24' | 'gray';
  /** Exactly width*height*channels bytes. May be a view into a reused buffer. */
  data: Buffer;
}

/** One frame from a camera, cropped to the ROI and brought to the model's frame size by its geometry (src/common/geometry.ts). */
export interface Frame extends RawImage {
  cameraId: string;
  /** Per camera, increases by one for every frame read from the source (dropped ones included). */
  seq: number;
  /** Epoch milliseconds when the frame was read from the source. */
  capturedAt: number;
  /** Full-resolution image of the same frame (whole field of view), for frames that get stored. */
  full?: RawImage;
  /** For image-folder sources: the file the frame came from. */
  sourceFile?: string;
  /** Hands the frame's buffers back to the source's pool; call once when done with the frame. */
  release(): void;
}

export type Verdict = 'ok' | 'uncertain' | 'defect';
export type Task = 'anomaly' | 'classification' | 'detection';

export interface Thresholds {
  /** Score at or above which a frame is a defect. */
  defect: number;
  /** Width of the band just below `defect` whose scores are `uncertain`. */
  uncertainBand: number;
}

export interface ClassScore {
  label: string;
  score: number;
}

export interface Box {
  /** Pixel coordinates in the inference-size image. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  label: string;
  score: number;
}

/** A low-resolution map of per-position anomaly scores, row-major. */
export interface HeatMap {
  width: number;
  height: number;
  data: Float32Array;
}

export interface StageTimings {
  /** ms from frame capture until inference started (time in slot). */
  queueMs: number;
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** ms to encode the stored JPEG (and overlay), for frames whose image is kept. */
  encodeMs?: number;
  /** ms to write the inspection (and image) to the store; set by the store. */
  storeMs?: number;
}

/** What the model says about one image, before the decision. */
export interface ModelOutput {
  /** Image-level score: anomaly score, or the top defect class probability, or the best box score. */
  score: number;
  classes?: ClassScore[];
  boxes?: Box[];
  heatMap?: HeatMap;
}

export interface Inspection {
  /** Sortable unique id (time-ordered). */
  id: string;
  cameraId: string;
  frameSeq: number;
  capturedAt: number;
  inferredAt: number;
  decidedAt: number;
  verdict: Verdict;
  score: number;
  classes?: ClassScore[];
  boxes?: Box[];
  model: { name: string; version: string; task: Task };
  thresholds: Thresholds;
  timings: StageTimings;
  /** Relative path of the stored JPEG under the data dir, if the frame was stored. */
  imagePath?: string;
  /** Relative path of the stored heat-map overlay JPEG, if any. */
  overlayPath?: string;
  sourceFile?: string;
}

export type CameraState = 'starting' | 'online' | 'reconnecting' | 'offline' | 'stopped';

export interface CameraStatus {
  cameraId: string;
  state: CameraState;
  lastError?: string;
  framesIn: number;
  framesDropped: number;
  /** Frames the source could not decode (corrupt files, truncated images). */
  framesCorrupt: number;
  reconnects: number;
  lastFrameAt?: number;
}
