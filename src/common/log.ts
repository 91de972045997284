import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redactDeep, redactText } from './redact.js';

export type { Logger };

/** Paths pino blanks in every log line, wherever a secret could appear. */
export const REDACT_PATHS = [
  '*.connectionString',
  '*.sasUrl',
  '*.sasToken',
  '*.accountKey',
  '*.password',
  'config.cameras[*].password',
  '*.cameras[*].password',
  '*.token',
  '*.*.connectionString',
  '*.*.sasUrl',
  '*.*.accountKey',
  '*.*.symmetricKey',
  'config.events.dps.symmetricKey',
  '*.sharedAccessKey',
  'config.events.connectionString',
  'config.upload.connectionString',
];

export { redactText };

export interface LogOptions {
  level?: string;
  /** Where lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

/** An error as a log field, with its chain of causes (SQLITE_FULL under "could not store", ECONNRESET under an SDK error). */
function errorFields(err: Error, depth = 0): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: err.name, message: err.message, code: (err as { code?: string }).code };
  if (err.cause instanceof Error && depth < 4) fields.cause = errorFields(err.cause, depth + 1);
  else if (err.cause !== undefined && !(err.cause instanceof Error)) fields.cause = String(err.cause);
  return fields;
}

export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { app: 'visor' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    // Secrets inside strings (camera URLs in ffmpeg's stderr, fetch errors, connection
    // strings) are masked in every line: the message and every string of the object.
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
      },
    },
    formatters: {
      log(object) {
        const err = object.err;
        const plain = err instanceof Error ? { ...object, err: errorFields(err) } : object;
        return redactDeep(plain) as Record<string, unknown>;
      },
    },
  };
  return options.destination ? pino(config, options.destination as DestinationStream) : pino(config);
}

/** A logger that drops everything, for tests that are about something else. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
