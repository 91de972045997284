// Loading: file (YAML or JSON) → VISOR_* environment overrides → defaults → validation.
// Every problem is reported at once, by key path.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import YAML from 'yaml';
import { ConfigError } from '../common/errors.js';
import { ConfigSchema, type Config } from './schema.js';
import { stationIssues } from './stations.js';

export const ENV_PREFIX = 'VISOR_';

export interface LoadedConfig {
  config: Config;
  /** Folder relative paths in the config resolve against. */
  baseDir: string;
  source: string;
}

/** "/cameras/0/fps" → "cameras[0].fps" */
export function formatPath(pointer: string): string {
  if (pointer === '' || pointer === '/') return '(root)';
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, part) => (/^\d+$/.test(part) ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}

function camelFromEnv(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Applies VISOR_SECTION__KEY=value overrides: "__" separates path segments, snake case
 * maps to the schema's camel case, array items are addressed by index
 * (VISOR_CAMERAS__0__FPS=2). String settings take the text as is; other values are parsed
 * as JSON when they parse, else taken as text.
 */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): { value: unknown; issues: string[] } {
  const root: Record<string, unknown> = isObject(raw) ? structuredClone(raw) : {};
  const issues: string[] = [];
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || text === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__').filter(Boolean).map(camelFromEnv);
    const setting = segments.length > 0 ? schemaAt(segments) : undefined;
    if (!setting) {
      if (segments.length > 0 && isTopLevelKey(segments[0]!)) issues.push(`${name}: no such setting (${segments.join('.')})`);
      continue;
    }
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const key = segments[i]!;
      const nextIsIndex = /^\d+$/.test(segments[i + 1]!);
      const holder = node as Record<string, unknown>;
      if (!isObject(holder[key]) && !Array.isArray(holder[key])) holder[key] = nextIsIndex ? [] : {};
      node = holder[key] as Record<string, unknown>;
    }
    // A string setting takes the text as it is: a password or id of digits stays a string.
    (node as Record<string, unknown>)[segments.at(-1)!] = setting.type === 'string' ? text : parseEnvValue(text);
  }
  return { value: root, issues };
}

const TOP_LEVEL = Object.keys(ConfigSchema.properties);
function isTopLevelKey(key: string): boolean {
  return TOP_LEVEL.includes(key);
}

/** The schema of the setting a path of camel-case segments names, if any. */
function schemaAt(segments: string[]): TSchema | undefined {
  let schema: TSchema | undefined = ConfigSchema;
  for (const segment of segments) {
    schema = unwrap(schema);
    if (!schema) return undefined;
    if (schema.type === 'array' && /^\d+$/.test(segment)) schema = schema.items as TSchema;
    else if (schema.type === 'object' && schema.properties) schema = (schema.properties as Record<string, TSchema>)[segment];
    else return undefined;
  }
  return unwrap(schema);
}

function unwrap(schema: TSchema | undefined): TSchema | undefined {
  if (schema && Array.isArray(schema.allOf) && schema.allOf.length === 1) return schema.allOf[0] as TSchema;
  return schema;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a raw config object; returns the config with defaults, or throws ConfigError listing every issue. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw ?? {}));
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  // A missing value also fails its type check: report it once, as missing.
  const missing = new Set(errors.filter((e) => e.type === ValueErrorType.ObjectRequiredProperty).map((e) => e.path));
  const issues = errors
    .filter((e) => !missing.has(e.path) || e.type === ValueErrorType.ObjectRequiredProperty)
    .map((e) => `${formatPath(e.path)}: ${e.type === ValueErrorType.ObjectRequiredProperty ? 'is required' : e.message}`);
  // Union errors repeat per branch; keep each message once.
  const unique = [...new Set(issues)];
  try {
    unique.push(...semanticIssues(withDefaults as Config));
  } catch {
    // The structure is broken in a way the schema errors above already report.
  }
  if (unique.length > 0) throw new ConfigError(unique, source);
  return withDefaults as Config;
}

/** Rules a JSON schema cannot say. */
function semanticIssues(config: Config): string[] {
  const issues: string[] = [];
  const seen = new Map<string, number>();
  config.cameras.forEach((camera, i) => {
    const first = seen.get(camera.id);
    if (first !== undefined) issues.push(`cameras[${i}].id: "${camera.id}" is already used by cameras[${first}]`);
    else seen.set(camera.id, i);
    if (camera.roi) {
      if (camera.roi.x + camera.roi.width > 1 + 1e-9) issues.push(`cameras[${i}].roi: x + width must be at most 1`);
      if (camera.roi.y + camera.roi.height > 1 + 1e-9) issues.push(`cameras[${i}].roi: y + height must be at most 1`);
    }
    if (camera.password !== undefined && camera.username === undefined) issues.push(`cameras[${i}].password: needs cameras[${i}].username`);
    if (camera.username !== undefined && /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(camera.source))
      issues.push(`cameras[${i}].username: the source URL carries credentials too (user@ or user:password@); give them in one place`);
    if (camera.watchdog.backoffMaxMs < camera.watchdog.backoffInitialMs)
      issues.push(`cameras[${i}].watchdog.backoffMaxMs: must be at least backoffInitialMs (${camera.watchdog.backoffInitialMs})`);
  });
  const w = config.store.diskWatermarks;
  const order = ['warnFreePercent', 'shedOkFreePercent', 'retentionFreePercent', 'refuseImagesFreePercent'] as const;
  for (let i = 1; i < order.length; i++) {
    if (w[order[i]!] > w[order[i - 1]!]) issues.push(`store.diskWatermarks.${order[i]}: must be at most ${order[i - 1]} (${w[order[i - 1]!]})`);
  }
  issues.push(...stationIssues(config));
  // review.host may be any interface: the review UI requires sign-in (src/review/auth.ts) for everything but /healthz.
  if (config.upload.enabled && !config.upload.connectionString && !config.upload.sasUrl && !(config.upload.accountName && config.upload.accountKey))
    issues.push('upload: enabled needs connectionString, sasUrl, or accountName + accountKey');
  return issues;
}

/**
 * Thresholds in force for the model and each camera (camera over model over the package's
 * `packageThresholds`) whose uncertain band reaches below zero: with a positive defect
 * threshold, a band wider than it makes every low score uncertain.
 */
export function thresholdIssues(config: Pick<Config, 'model' | 'cameras'>, packageThresholds: { defect: number; uncertainBand: number }): string[] {
  const issues: string[] = [];
  const check = (where: string, defect: number, band: number, bandFrom: string) => {
    if (defect > 0 && band > defect)
      issues.push(`${where}: uncertainBand ${band} (${bandFrom}) is larger than the defect threshold ${defect}: every score from ${Number((defect - band).toFixed(6))} up would be uncertain`);
  };
  const model = config.model.thresholds;
  const modelDefect = model?.defect ?? packageThresholds.defect;
  const modelBand = model?.uncertainBand ?? packageThresholds.uncertainBand;
  check('model.thresholds', modelDefect, modelBand, model?.uncertainBand !== undefined ? 'model.thresholds' : 'the model package');
  config.cameras.forEach((camera, i) => {
    const own = camera.thresholds;
    if (own?.defect === undefined && own?.uncertainBand === undefined) return;
    check(`cameras[${i}].thresholds`, own.defect ?? modelDefect, own.uncertainBand ?? modelBand, own.uncertainBand !== undefined ? `cameras[${i}].thresholds` : model?.uncertainBand !== undefined ? 'model.thresholds' : 'the model package');
  });
  return issues;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function parseConfigText(text: string, source: string): unknown {
  try {
    return source.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError([`(file): cannot parse ${path.extname(source) || 'YAML'}: ${(err as Error).message.split('\n')[0]}`], source);
  }
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const source = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], file);
  }
  const { value, issues } = applyEnvOverrides(parseConfigText(text, source), env);
  // Every problem at once: an unknown override and an invalid value in the file alike.
  let config: Config;
  try {
    config = parseConfig(value, source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError([...issues, ...err.issues], source);
  }
  if (issues.length > 0) throw new ConfigError(issues, source);
  return { config, baseDir: path.dirname(source), source };
}
