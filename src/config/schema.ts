// The one source of truth for configuration: this schema gives the TypeScript type,
// the validator, the defaults and the documentation (`visor config docs`).
import { Type, type Static } from '@sinclair/typebox';
import { EventsSection } from './events.js';
import { ReviewSection } from './review.js';
import { CameraUpload, UploadSection } from './upload.js';
import { LOG_FORMATS, LOG_LEVELS, LOG_MODULES } from '../common/log.js';
import { PlcLink, PlcSection } from './stations.js';
import { LearningSection } from './learning.js';

export { EventsSection, ReviewSection, UploadSection, CameraUpload, PlcSection, LearningSection };

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

export const ImageLimits = Type.Object(
  {
    maxPixels: Type.Integer({
      minimum: 1,
      default: 40_000_000,
      description: 'Image folder and HTTP snapshot sources: an image with more pixels (width × height, read from its header before decoding) is skipped and counted (visor_camera_frames_oversized_total). 40 MP is above any industrial camera; a 12000×12000 PNG (144 MP) would take ~2 GB to decode.',
    }),
    maxMegabytes: Type.Number({ exclusiveMinimum: 0, default: 50, description: 'Image folder and HTTP snapshot sources: a file or response larger than this is skipped and counted, before it is read (HTTP: by Content-Length, else while reading).' }),
    fullResolutionMaxPixels: Type.Integer({
      minimum: 1,
      default: 24_000_000,
      description: 'Image folder and HTTP snapshot sources: the full-resolution copy kept for storage is scaled down to fit this many pixels (aspect ratio kept).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Limits on the images a source decodes in-process (folder and HTTP snapshot sources; video files, RTSP and V4L2 are decoded by ffmpeg at the stream\'s size).' },
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
    fps: Type.Number({ exclusiveMinimum: 0, maximum: 120, default: 5, description: 'Frame-rate cap: at most this many frames a second are read, frames over it dropped (never filled in with copies); the replay rate for folders, the poll rate for snapshot URLs.' }),
    loop: Type.Boolean({ default: true, description: 'Replay video files and image folders from the start when they end.' }),
    inferenceSize: Type.Optional(Type.Intersect([Size], { description: "Size frames are delivered at for inference. Default: the model's frame size (its input size unless the model tiles images), brought there by the model's geometry (stretch, pad or crop). Another size is brought to the model's frame a second time, so scores no longer match `visor inspect` exactly." })),
    roi: Type.Optional(Roi),
    fullResolution: Type.Boolean({ default: true, description: 'Keep each frame at full resolution too, so stored images are sharp (costs a second ffmpeg output).' }),
    thresholds: Type.Optional(ThresholdOverrides),
    upload: Type.Optional(CameraUpload),
    watchdog: Watchdog,
    imageLimits: ImageLimits,
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
    threads: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Intra-op threads for onnxruntime. 0: chosen from the cores and the cameras, max(1, cores − 1 − cameras / 10) (a core for the event loop, a tenth per camera for its ffmpeg; 1 on 2 cores).',
    }),
    worker: Type.Boolean({
      default: true,
      description: "Run the model in a worker thread, so session.run (which otherwise occupies the line's event loop while the model works) does not hold up SQLite, the review API and the hand-over of frames. Cameras share the model either way, each camera in turn; in a worker the next frame waits beside the running one, so the model does not idle between frames. Off: the model runs on the line's thread (one thread less; see the README's performance section).",
    }),
    thresholds: Type.Optional(ThresholdOverrides),
  },
  { additionalProperties: false, default: {} },
);

const percent = (fallback: number, description: string) => Type.Number({ minimum: 0, maximum: 100, default: fallback, description });

export const DiskWatermarks = Type.Object(
  {
    warnFreePercent: percent(10, 'Below this much free space (percent of the data dir\'s file system) health is degraded and the log warns.'),
    shedOkFreePercent: percent(5, 'Below this, ok images are no longer kept (requested samples still are); verdicts are always stored.'),
    retentionFreePercent: percent(3, 'Below this, the oldest images are also deleted early (their inspections stay) until free space is back above shedOkFreePercent.'),
    refuseImagesFreePercent: percent(1, 'Below this, no image is kept, so the database keeps the room to record verdicts.'),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Free-space levels of the data dir, each lower than the one before. On a 32 GB card the defaults warn at 3.2 GB free, stop keeping ok images at 1.6 GB, delete old images early at 1 GB and keep verdicts only below 330 MB. Images not kept are counted in visor_images_shed_total and the inspection names why.',
  },
);

export const StoreSection = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: 'data', description: 'Folder for the SQLite database and images. Relative paths are resolved against the config file.' }),
    maxDiskMb: Type.Number({ exclusiveMinimum: 0, default: 2048, description: 'Quota for stored images; the oldest go first when it is exceeded.' }),
    retentionDays: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'Inspections and images older than this are deleted.' }),
    okSampleFraction: Type.Number({ minimum: 0, maximum: 1, default: 0.02, description: 'Fraction of ok frames whose image is stored (defect and uncertain frames are always stored).' }),
    jpegQuality: Type.Integer({ minimum: 1, maximum: 100, default: 90 }),
    retentionIntervalSeconds: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'How often retention runs.' }),
    diskWatermarks: DiskWatermarks,
  },
  { additionalProperties: false, default: {} },
);

export const Recipe = Type.Object(
  {
    index: Type.Integer({ minimum: 0, maximum: 32767, description: 'The number the PLC (or the API) selects the recipe by.' }),
    name: Type.Optional(Type.String({ description: 'For people: shown in the audit log and the handshake state.' })),
    model: Type.Optional(Type.String({ minLength: 1, description: 'Model package folder used while this recipe is selected. Default: `model.package`. Relative to the config file.' })),
    thresholds: Type.Optional(ThresholdOverrides),
  },
  { additionalProperties: false },
);

export const Station = Type.Object(
  {
    id: Id,
    cameras: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Ids of the cameras (`cameras[].id`) whose views make up one part inspection.' }),
    deadlineMs: Type.Integer({ minimum: 1, maximum: 600000, default: 150, description: 'Result deadline after the trigger: without a verdict by then the station reports Ng with result code 10 (timeout) and stores the late verdict, marked late, when it comes.' }),
    settleMs: Type.Integer({ minimum: 0, maximum: 60000, default: 0, description: 'Delay after the trigger (strobe, vibration settling): only a frame captured at least this long after the trigger is a view of the part.' }),
    inspect: Type.Union([Type.Literal('continuous'), Type.Literal('triggered')], {
      default: 'continuous',
      description: 'continuous: the station\'s cameras are inspected all the time (triggered frames go first), so the board, IoT Hub and retraining samples see the line between parts; triggered: only the frames a trigger asks for are run through the model (the others are released unread and counted in visor_camera_frames_skipped_total), which leaves the cores to the parts on a line that only needs them. A camera shared with a continuous station, and sample requests, are still inspected.',
    }),
    lateWindowMs: Type.Integer({ minimum: 1, default: 10000, description: 'How long after the trigger a late verdict is still waited for; after it the part is closed with the views it has (result code 11, no frame) and stops waiting.' }),
    uncertain: Type.Union([Type.Literal('ng'), Type.Literal('ok')], {
      default: 'ng',
      description: 'Aggregation: the part verdict is the worst of its views (defect > uncertain > ok); an uncertain worst view is Ng (fail-safe) unless this says "ok".',
    }),
    triggers: Type.Array(Type.Union([Type.Literal('http'), PlcLink]), {
      default: ['http'],
      uniqueItems: true,
      description: 'What may trigger the station: "http" (POST /api/stations/:id/trigger with an API token), and the PLC links (configured under `plc`): "opcua" (Visor\'s OPC UA server), "opcua-client" (tags on the PLC\'s OPC UA server), "modbus" (Visor\'s Modbus server), "modbus-client" (the PLC as Modbus server), "mqtt".',
    }),
    transports: Type.Array(PlcLink, { default: [], uniqueItems: true, description: 'PLC links (configured under `plc`) the handshake (Ready, Busy, ResultReady, Ok, Ng, Error, result code, part id, heartbeat) is written to.' }),
    heartbeatMs: Type.Integer({ minimum: 10, maximum: 60000, default: 500, description: 'The heartbeat counter goes up by one this often while Visor runs; the PLC treats a counter that stops as Visor down.' }),
    recipes: Type.Array(Recipe, { default: [], description: 'Recipes selectable by index (product changeover). Without any, the line\'s model and thresholds apply.' }),
    recipe: Type.Optional(Type.Integer({ minimum: 0, description: 'Recipe index selected at start. Default: the first recipe.' })),
  },
  { additionalProperties: false },
);

const LogLevel = (options: { default?: string; description?: string } = {}) => Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)), options);

export const LogSection = Type.Object(
  {
    level: LogLevel({ default: 'info', description: 'Level of every module not listed in log.modules. Each inspection is logged at debug, so info keeps a line of the line\'s life, not of every frame.' }),
    modules: Type.Object(Object.fromEntries(LOG_MODULES.map((m) => [m, Type.Optional(LogLevel())])), {
      additionalProperties: false,
      default: {},
      description: `Levels per module, e.g. { capture: debug }; modules: ${LOG_MODULES.join(', ')}.`,
    }),
    format: Type.Union(LOG_FORMATS.map((f) => Type.Literal(f)), {
      default: 'auto',
      description: 'json: one JSON object per line (ISO time); pretty: readable lines (pino-pretty); auto: pretty when the output is a terminal, else json.',
    }),
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
    stations: Type.Array(Station, { default: [], description: 'Triggered part inspection (docs/stations.md): a trigger takes the next frame from each of the station\'s cameras, and one aggregated verdict goes to the PLC within the deadline. Without stations the line streams as before.' }),
    plc: PlcSection,
    learning: LearningSection,
    log: LogSection,
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
export type ImageLimitsConfig = Static<typeof ImageLimits>;
export type StationConfig = Static<typeof Station>;
export type LearningConfig = Static<typeof LearningSection>;
export type RecipeConfig = Static<typeof Recipe>;
export type { PlcConfig } from './stations.js';
