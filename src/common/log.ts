import { createRequire } from 'node:module';
import { pino, symbols, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type PinoPretty from 'pino-pretty';
import { redactDeep, redactText } from './redact.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The `module` each part of Visor names itself by in the log (and in `log.modules`). */
export const LOG_MODULES = ['capture', 'pipeline', 'inference', 'store', 'bus', 'sampling', 'review', 'events', 'upload', 'stations', 'fit', 'learning', 'heap'] as const;
export type LogModule = (typeof LOG_MODULES)[number];

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
  /** Levels per module (a child logger bound to `{ module }` logs at its level); the others log at `level`. */
  modules?: Partial<Record<string, string>>;
  /** `pretty` is for people, `json` for machines; `auto` is pretty when the destination is a terminal. */
  format?: LogFormat;
  /** Where lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

const { chindingsSym } = symbols;

/**
 * pino appends a child's bindings to its parent's, so a child that binds a key its parent bound
 * already (`module`, `cameraId`) would write that key twice on every line. Keep one of each key,
 * with the child's value, where the parent's stood.
 */
function keepOneOfEachKey(logger: object): void {
  const own = logger as { [chindingsSym]?: string };
  const raw = own[chindingsSym];
  if (!raw) return;
  const merged = JSON.parse(`{${raw.slice(1)}}`) as Record<string, unknown>;
  own[chindingsSym] = Object.entries(merged)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
}

export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** An error as a log field, with its chain of causes (SQLITE_FULL under "could not store", ECONNRESET under an SDK error). */
function errorFields(err: Error, depth = 0): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: err.name, message: err.message, code: (err as { code?: string }).code };
  if (err.cause instanceof Error && depth < 4) fields.cause = errorFields(err.cause, depth + 1);
  else if (err.cause !== undefined && !(err.cause instanceof Error)) fields.cause = String(err.cause);
  return fields;
}

export function createLogger(options: LogOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? 'auto';
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { app: 'visor' },
    timestamp: pino.stdTimeFunctions.isoTime,
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
  const prettyOut = format === 'pretty' || (format === 'auto' && isTerminal(destination));
  // Pretty lines are made from the JSON line, so they carry the same redaction.
  // Loaded only when used: every CLI start would pay for it otherwise.
  const pretty = prettyOut ? (createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty) : undefined;
  const stream = pretty
    ? pretty({ destination, sync: true, colorize: isTerminal(destination), translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o', ignore: 'app' })
    : (destination as DestinationStream);
  const root = pino(config, stream);

  // Every logger made from this one (children inherit the property) keeps one of each key and
  // takes its module's level when it names a module.
  const moduleLevels = options.modules ?? {};
  const pinoChild = root.child;
  root.child = function child(this: Logger, bindings, childOptions) {
    const named = typeof bindings.module === 'string' ? moduleLevels[bindings.module] : undefined;
    const made = pinoChild.call(this, bindings, named !== undefined && childOptions?.level === undefined ? { ...childOptions, level: named } : childOptions);
    keepOneOfEachKey(made);
    return made;
  } as typeof root.child;
  return root;
}

/** A logger that drops everything, for tests that are about something else. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
