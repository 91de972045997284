/**
 * How images are scaled to the model input everywhere (capture, fit, eval, inspect), so a
 * model sees frames on the line scaled as the frames it was fitted and calibrated on.
 * sharp uses RESIZE_KERNEL; ffmpeg sources use the nearest equivalent, FFMPEG_SCALE_FLAGS.
 */
export const RESIZE_KERNEL = 'linear' as const;
export const FFMPEG_SCALE_FLAGS = 'bilinear';
