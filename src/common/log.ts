import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths pino blanks in every log line, wherever a secret could appear. */
export const REDACT_PATHS = [
  '*.connectionString',
  '*.sasUrl',
  '*.sasToken',
  '*.accountKey',
  '*.password',
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

/** Secrets that may hide inside strings (URLs, error messages): SAS signatures, keys. */
const SECRET_IN_TEXT = /((?:SharedAccessKey|AccountKey|sig|SharedAccessSignature)=)[^;&\s"]+/gi;

export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, '$1[REDACTED]');
}

export interface LogOptions {
  level?: string;
  /** Where lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { app: 'visor' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    formatters: {
      log(object) {
        const err = object.err;
        if (err instanceof Error) {
          return { ...object, err: { type: err.name, message: redactText(err.message), code: (err as { code?: string }).code } };
        }
        return object;
      },
    },
  };
  return options.destination ? pino(config, options.destination as DestinationStream) : pino(config);
}

/** A logger that drops everything, for tests that are about something else. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
