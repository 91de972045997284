// Capture: camera sources, ffmpeg, watchdog and the one-frame slot (see DESIGN.md, "The flow").
export { createCamera, type Camera, type CameraDeps } from './camera.js';
export { resolveSourceKind, type SourceKind } from './source.js';
export { backoffDelay, BACKOFF_JITTER, type BackoffPolicy } from '../common/backoff.js';
export { FrameSlot } from './slot.js';
export { BufferPool } from './pool.js';
export { buildFfmpegArgs, frameRateCap, type FfmpegInput } from './ffmpeg.js';
export type { Timers } from './session.js';
