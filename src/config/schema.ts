// The one source of truth for configuration: this schema gives the TypeScript type,
// the validator, the defaults and the documentation (`visor config docs`).
import { Type, type Static } from '@sinclair/typebox';
import { EventsSection } from './events.js';
import { ReviewSection } from './review.js';
import { CameraUpload, UploadSection } from './upload.js';

export { EventsSection, ReviewSection, UploadSection, CameraUpload };

const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Lower-case letters, digits, "-" and "_"; unique.' });

export const Size = Type.Object(
  {
    width: Type.Integer({ minimum: 8, maximum: 4096 }),
    height: Type.Integer({ minimum: 8, maximum: 4096 }),
  },
  { additionalProperties: false },
);

export const Roi = Type.Object(
  {
    x: Type.Number({ minimum: 0, maximum: 1, description: 'Left edge as a fraction of the frame width.' }),
    y: Type.Number({ minimum: 0, maximum: 1, description: 'Top edge as a fraction of the frame height.' }),
    width: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Width as a fraction of the frame width.' }),
    height: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Height as a fraction of the frame height.' }),
  },
  { additionalProperties: false, description: 'Region of interest: only this part of the frame is inspected.' },
);

export const ThresholdOverrides = Type.Object(
  {
    defect: Type.Optional(Type.Number({ description: 'Score at or above which a frame is a defect. Default: the model package\'s calibrated threshold.' })),
    uncertainBand: Type.Optional(Type.Number({ minimum: 0, description: 'Width of the band below the defect threshold whose scores are "uncertain". Default: the model package\'s.' })),
  },
  { additionalProperties: false },
);

export const Watchdog = Type.Object(
  {
    stallSeconds: Type.Number({ exclusiveMinimum: 0, default: 10, description: 'Restart the source when no frame arrived for this long.' }),
    backoffInitialMs: Type.Integer({ minimum: 10, default: 500, description: 'First reconnect delay; doubles on every failed attempt (with ±20% jitter).' }),
    backoffMaxMs: Type.Integer({ minimum: 10, default: 30000, description: 'Cap of the reconnect delay.' }),
    offlineAfterFailures: Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failed attempts after which the camera is reported offline (it keeps retrying).' }),
  },
  { additionalProperties: false, default: {} },
);

export const Camera = Type.Object(
  {
    id: Id,
    source: Type.String({
      minLength: 1,
      description:
        'rtsp://… or rtsps://… (IP camera), /dev/videoN (V4L2 device), a video file, a folder of images, or http(s)://… (snapshot URL polled at `fps`). Relative paths are resolved against the config file.',
    }),
    kind: Type.Union([Type.Literal('auto'), Type.Literal('rtsp'), Type.Literal('v4l2'), Type.Literal('file'), Type.Literal('folder'), Type.Literal('http')], {
      default: 'auto',
      description: 'Source kind; "auto" infers it from `source`.',
    }),
    username: Type.Optional(
      Type.String({ minLength: 1, description: 'User name for the camera (HTTP snapshot: answered to its Basic or Digest challenge; RTSP: put in the URL for ffmpeg). Instead of `user:password@` in `source`, not both.' }),
    ),
    password: Type.Optional(Type.String({ description: 'Password for `username` (secret; never logged). Can come from the environment, e.g. VISOR_CAMERAS__0__PASSWORD.' })),
    rtspTransport: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp', description: 'RTSP transport.' }),
    fps: Type.Number({ exclusiveMinimum: 0, maximum: 120, default: 5, description: 'Frame-rate cap (and replay rate for folders, poll rate for snapshot URLs).' }),
    loop: Type.Boolean({ default: true, description: 'Replay video files and image folders from the start when they end.' }),
    inferenceSize: Type.Optional(Type.Intersect([Size], { description: "Size frames are delivered at for inference. Default: the model's frame size (its input size unless the model tiles images), brought there by the model's geometry (stretch, pad or crop). Another size is brought to the model's frame a second time, so scores no longer match `visor inspect` exactly." })),
    roi: Type.Optional(Roi),
    fullResolution: Type.Boolean({ default: true, description: 'Keep each frame at full resolution too, so stored images are sharp (costs a second ffmpeg output).' }),
    thresholds: Type.Optional(ThresholdOverrides),
    upload: Type.Optional(CameraUpload),
    watchdog: Watchdog,
  },
  { additionalProperties: false },
);

export const ModelSection = Type.Object(
  {
    package: Type.String({ minLength: 1, default: 'models/elpv-cells', description: 'Model package folder (model.json + model.onnx). Relative paths are resolved against the config file, then the install folder.' }),
    executionProviders: Type.Array(Type.Union([Type.Literal('cpu'), Type.Literal('cuda'), Type.Literal('tensorrt'), Type.Literal('dml'), Type.Literal('coreml')]), {
      minItems: 1,
      default: ['cpu'],
      description: 'onnxruntime execution providers, in order. An unavailable provider is an error at start-up, not a silent fallback.',
    }),
    threads: Type.Integer({ minimum: 0, default: 1, description: 'Intra-op threads for onnxruntime (0 = onnxruntime decides).' }),
    worker: Type.Boolean({
      default: false,
      description: "Run the model in a worker thread, so session.run (which otherwise occupies the line's event loop while the model works) does not hold up camera pipes, SQLite and the review API. Cameras share the model either way, one frame at a time, each camera in turn. Off by default: on a loaded 2-core machine the hand-over to the worker added latency (see the README's performance section).",
    }),
    thresholds: Type.Optional(ThresholdOverrides),
  },
  { additionalProperties: false, default: {} },
);

export const StoreSection = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: 'data', description: 'Folder for the SQLite database and images. Relative paths are resolved against the config file.' }),
    maxDiskMb: Type.Number({ exclusiveMinimum: 0, default: 2048, description: 'Quota for stored images; the oldest go first when it is exceeded.' }),
    retentionDays: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'Inspections and images older than this are deleted.' }),
    okSampleFraction: Type.Number({ minimum: 0, maximum: 1, default: 0.02, description: 'Fraction of ok frames whose image is stored (defect and uncertain frames are always stored).' }),
    jpegQuality: Type.Integer({ minimum: 1, maximum: 100, default: 90 }),
    retentionIntervalSeconds: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'How often retention runs.' }),
  },
  { additionalProperties: false, default: {} },
);




export const ConfigSchema = Type.Object(
  {
    cameras: Type.Array(Camera, { minItems: 1, description: 'The cameras of this line.' }),
    model: ModelSection,
    store: StoreSection,
    review: ReviewSection,
    events: EventsSection,
    upload: UploadSection,
    log: Type.Object(
      { level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }) },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type CameraConfig = Static<typeof Camera>;
export type ModelConfig = Static<typeof ModelSection>;
export type StoreConfig = Static<typeof StoreSection>;
export type ReviewConfig = Static<typeof ReviewSection>;
export type EventsConfig = Static<typeof EventsSection>;
export type UploadConfig = Static<typeof UploadSection>;
export type RoiConfig = Static<typeof Roi>;
export type WatchdogConfig = Static<typeof Watchdog>;
