// Named errors with a stable code; `retryable` tells callers whether trying again can help.

export class VisorError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Configuration is invalid; `issues` lists every problem as "path: message". */
export class ConfigError extends VisorError {
  readonly issues: string[];
  constructor(issues: string[], source?: string) {
    super('CONFIG_INVALID', `invalid configuration${source ? ` in ${source}` : ''}:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** A model package is missing, corrupt, or its manifest disagrees with its graph. */
export class ModelPackageError extends VisorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('MODEL_PACKAGE_INVALID', message, options);
  }
}

/** A camera source failed (process exit, stall, unreachable URL); the watchdog retries. */
export class CaptureError extends VisorError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('CAPTURE_FAILED', message, { retryable: true, ...options });
  }
}

/** One image could not be decoded; it is counted and skipped. */
export class CorruptFrameError extends VisorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('FRAME_CORRUPT', message, options);
  }
}

/** One image is over the source's limits (pixels, bytes); it is counted and skipped without being decoded. */
export class OversizedImageError extends VisorError {
  constructor(message: string) {
    super('IMAGE_TOO_LARGE', message);
  }
}

export class StoreError extends VisorError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('STORE_FAILED', message, options);
  }
}

/** Whether trying again can help: a VisorError marked retryable. Anything else counts as permanent. */
export function isRetryable(err: unknown): boolean {
  return err instanceof VisorError && err.retryable;
}

/** What was asked for does not exist (the review API answers 404). */
export class NotFoundError extends VisorError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
