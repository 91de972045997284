// Data contracts that cross module boundaries (see DESIGN.md, "Contracts"). What is stored and
// sent as JSON is a TypeBox schema, so the type and the validators come from one source.
import { Type, type Static } from '@sinclair/typebox';

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

export const VerdictSchema = Type.Union([Type.Literal('ok'), Type.Literal('uncertain'), Type.Literal('defect')]);
export type Verdict = Static<typeof VerdictSchema>;
export const TaskSchema = Type.Union([Type.Literal('anomaly'), Type.Literal('classification'), Type.Literal('detection')]);
export type Task = Static<typeof TaskSchema>;

export const ThresholdsSchema = Type.Object({
  defect: Type.Number({ description: 'Score at or above which a frame is a defect.' }),
  uncertainBand: Type.Number({ description: 'Width of the band just below `defect` whose scores are `uncertain`.' }),
});
export type Thresholds = Static<typeof ThresholdsSchema>;

export const ClassScoreSchema = Type.Object({ label: Type.String(), score: Type.Number() });
export type ClassScore = Static<typeof ClassScoreSchema>;

/** Pixel coordinates in the inference-size image. */
export const BoxSchema = Type.Object({
  x1: Type.Number(),
  y1: Type.Number(),
  x2: Type.Number(),
  y2: Type.Number(),
  label: Type.String(),
  score: Type.Number(),
});
export type Box = Static<typeof BoxSchema>;

/** A low-resolution map of per-position anomaly scores, row-major. */
export interface HeatMap {
  width: number;
  height: number;
  data: Float32Array;
}

export const StageTimingsSchema = Type.Object({
  queueMs: Type.Number({ description: 'ms from frame capture until inference started (time in slot).' }),
  preprocessMs: Type.Number(),
  inferenceMs: Type.Number(),
  postprocessMs: Type.Number(),
  encodeMs: Type.Optional(Type.Number({ description: 'ms to encode the stored JPEG (and overlay), for frames whose image is kept.' })),
  storeMs: Type.Optional(Type.Number({ description: 'ms to write the inspection (and image) to the store; set by the store.' })),
});
export type StageTimings = Static<typeof StageTimingsSchema>;

/** What the model says about one image, before the decision. */
export interface ModelOutput {
  /** Image-level score: anomaly score, or the top defect class probability, or the best box score. */
  score: number;
  classes?: ClassScore[];
  boxes?: Box[];
  heatMap?: HeatMap;
}

/**
 * One inspected frame: the one schema of it. It gives the type, the review API's response
 * (src/review/routes/schemas.ts) and the IoT Hub event body (src/events/message.ts), so a field
 * added here reaches all three.
 */
export const InspectionSchema = Type.Object({
  id: Type.String({ description: 'Sortable unique id (time-ordered).' }),
  cameraId: Type.String(),
  frameSeq: Type.Integer(),
  capturedAt: Type.Number({ description: 'Epoch ms.' }),
  inferredAt: Type.Number(),
  decidedAt: Type.Number(),
  verdict: VerdictSchema,
  score: Type.Number(),
  classes: Type.Optional(Type.Array(ClassScoreSchema)),
  boxes: Type.Optional(Type.Array(BoxSchema)),
  model: Type.Object({ name: Type.String(), version: Type.String(), task: TaskSchema }),
  thresholds: ThresholdsSchema,
  timings: StageTimingsSchema,
  imagePath: Type.Optional(Type.String({ description: 'Relative path of the stored JPEG under the data dir, if the frame was stored.' })),
  overlayPath: Type.Optional(Type.String({ description: 'Relative path of a stored overlay JPEG (rows stored before heat maps were kept as data).' })),
  imageShed: Type.Optional(
    Type.String({ description: 'Why the image that would have been kept is not: "<source>: <reason>" (a pressure source such as "disk", or "store" when writing it failed).' }),
  ),
  overlayData: Type.Optional(Type.Boolean({ description: 'True when what the overlay is drawn from (heat map, placement) is stored with the image; the overlay is rendered from it on demand.' })),
  sourceFile: Type.Optional(Type.String()),
});
export type Inspection = Static<typeof InspectionSchema>;

export type CameraState = 'starting' | 'online' | 'reconnecting' | 'offline' | 'stopped';

export interface CameraStatus {
  cameraId: string;
  state: CameraState;
  lastError?: string;
  framesIn: number;
  framesDropped: number;
  /**
   * Frames a live stream (RTSP, V4L2) sent that were never read: the frames due at the camera's
   * rate (cameras[].fps, which caps the stream's own) since each connection's first frame, less
   * those read, beyond half a second of slack. They are lost before the slot (a reader held back,
   * ffmpeg not reading its socket), so framesDropped never sees them.
   */
  framesLost?: number;
  /** Frames the source could not decode (corrupt files, truncated images). */
  framesCorrupt: number;
  /** Images over the source's limits (cameras[].imageLimits), skipped without decoding. */
  framesOversized?: number;
  /**
   * Frames not inspected by policy: the camera is inspected only when a trigger asks for a frame
   * (stations[].inspect: triggered) and none did. Not a loss, so not in framesDropped.
   */
  framesSkipped?: number;
  reconnects: number;
  lastFrameAt?: number;
}
