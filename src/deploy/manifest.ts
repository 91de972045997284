// Fills edge-manifest/deployment.template.json into a deployment manifest for IoT Hub:
// ${NAME} and ${NAME:-default} placeholders from variables, V4L2 devices added to the
// Visor module, createOptions turned into the strings IoT Edge expects, and the result
// checked (every createOptions parses, routes name real outputs, the module's settings and
// desired properties pass Visor's config schema), and the IoT Edge runtime it pins compared with
// Microsoft's servicing dates.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyEnvOverrides, parseConfig, type Config } from '../config/index.js';
import { parseConfigText } from '../config/load.js';
import { ConfigError } from '../common/errors.js';

export const MODULE_NAME = 'visor';
/** IoT Edge reads createOptions in chunks of at most 512 characters: createOptions, createOptions01, … */
const CREATE_OPTIONS_CHUNK = 512;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface FillOptions {
  /** Values for ${NAME} placeholders. */
  vars: Record<string, string | undefined>;
  /** V4L2 devices to pass into the Visor module (e.g. /dev/video0). */
  devices?: string[];
  /** The module's config file inside the image (config/edge.yaml), to check the module's environment against. */
  moduleConfigFile: string;
  /** Checks the Visor module's desired properties; throws ConfigError listing problems. */
  checkDesired?: (desired: unknown) => void;
}

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}/g;

function substitute(value: Json, vars: FillOptions['vars'], missing: Set<string>): Json {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, name: string, fallback: string | undefined) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      missing.add(name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars, missing));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars, missing)]));
  return value;
}

function splitCreateOptions(settings: Record<string, Json>): void {
  const options = settings.createOptions;
  if (options === undefined || typeof options === 'string') return;
  const text = JSON.stringify(options);
  delete settings.createOptions;
  for (let i = 0; i * CREATE_OPTIONS_CHUNK < text.length || i === 0; i++) {
    const key = i === 0 ? 'createOptions' : `createOptions${String(i).padStart(2, '0')}`;
    settings[key] = text.slice(i * CREATE_OPTIONS_CHUNK, (i + 1) * CREATE_OPTIONS_CHUNK);
  }
}

/** Joins createOptions, createOptions01, … back into the object (for checks and tests). */
export function readCreateOptions(settings: Record<string, unknown>): unknown {
  const keys = Object.keys(settings)
    .filter((k) => /^createOptions(\d\d)?$/.test(k))
    .sort();
  return JSON.parse(keys.map((k) => settings[k] as string).join('') || '{}');
}

type Modules = Record<string, { settings: Record<string, Json>; env?: Record<string, { value: string }> }>;

function agentOf(manifest: Record<string, Json>): { systemModules: Modules; modules: Modules } {
  const content = manifest.modulesContent as Record<string, Record<string, Json>>;
  return content.$edgeAgent!['properties.desired'] as unknown as { systemModules: Modules; modules: Modules };
}

/**
 * When each IoT Edge LTS release goes out of servicing (Microsoft's lifecycle for Azure IoT Edge).
 * A release older than the oldest listed is out of servicing too.
 */
export const EDGE_RUNTIME_SERVICING: readonly { version: string; endsOn: string }[] = [
  { version: '1.4', endsOn: '2024-11-12' },
  { version: '1.5', endsOn: '2026-11-10' },
  { version: '1.6', endsOn: '2028-11-14' },
];

const RUNTIME_IMAGE = /\/azureiotedge-(agent|hub):(\d+)\.(\d+)(?:[.-][\w.-]*)?$/;

/** Warnings, as "path: message", for system modules pinning an IoT Edge runtime out of servicing on `now`. */
export function runtimeWarnings(manifest: Record<string, Json>, now: Date = new Date()): string[] {
  const ended = (r: { endsOn: string }) => new Date(`${r.endsOn}T23:59:59Z`) < now;
  const current = EDGE_RUNTIME_SERVICING.find((r) => !ended(r));
  const advice = current ? `; use ${current.version} (serviced until ${current.endsOn})` : '';
  const warnings: string[] = [];
  for (const [name, module] of Object.entries(agentOf(manifest).systemModules)) {
    const image = module.settings.image;
    const match = typeof image === 'string' ? RUNTIME_IMAGE.exec(image) : null;
    if (!match) continue;
    const version = [Number(match[2]), Number(match[3])] as const;
    const release = EDGE_RUNTIME_SERVICING.find((r) => r.version === version.join('.'));
    // Not in the table: out of servicing when older than its oldest entry, else newer than this code.
    const [oldestMajor, oldestMinor] = EDGE_RUNTIME_SERVICING[0]!.version.split('.').map(Number) as [number, number];
    const out = release ? ended(release) : (version[0] - oldestMajor || version[1] - oldestMinor) < 0;
    if (!out) continue;
    const since = release ? ` since ${release.endsOn}` : '';
    warnings.push(`systemModules.${name}.settings.image: IoT Edge ${version.join('.')} (${image}) is out of servicing${since}${advice}`);
  }
  return warnings;
}

export function fillDeployment(template: Json, options: FillOptions): Record<string, Json> {
  const missing = new Set<string>();
  const manifest = substitute(template, options.vars, missing) as Record<string, Json>;
  const issues = [...missing].sort().map((name) => `\${${name}}: no value (set it in the environment or with --set ${name}=…)`);

  const agent = agentOf(manifest);
  const visor = agent.modules[MODULE_NAME];
  if (!visor) throw new ConfigError([`modules.${MODULE_NAME}: the template has no Visor module`]);
  if (options.devices?.length) {
    const created = visor.settings.createOptions as Record<string, Record<string, Json>>;
    created.HostConfig = created.HostConfig ?? {};
    created.HostConfig.Devices = options.devices.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: 'rwm' }));
  }
  for (const module of [...Object.values(agent.systemModules), ...Object.values(agent.modules)]) splitCreateOptions(module.settings);

  issues.push(...checkDeployment(manifest, options));
  if (issues.length > 0) throw new ConfigError(issues, 'deployment manifest');
  return manifest;
}

/**
 * The Visor config a container gets from the image's config file and its VISOR_* environment
 * (IoT Edge module env, Kubernetes container env), or the problems with it, each prefixed by `where`.
 */
export function checkModuleEnvironment(env: Record<string, string>, configFile: string, where: string): { config?: Config; issues: string[] } {
  const issues: string[] = [];
  try {
    const { value, issues: envIssues } = applyEnvOverrides(parseConfigText(readFileSync(configFile, 'utf8'), configFile), env);
    issues.push(...envIssues.map((i) => `${where}: ${i}`));
    return { config: parseConfig(value, path.basename(configFile)), issues };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues.map((i) => `${where} → ${i}`));
    return { issues };
  }
}

/** Problems with a filled deployment manifest, as "path: message". */
export function checkDeployment(manifest: Record<string, Json>, options: Pick<FillOptions, 'moduleConfigFile' | 'checkDesired'>): string[] {
  const issues: string[] = [];
  const agent = agentOf(manifest);
  for (const [group, modules] of [['systemModules', agent.systemModules], ['modules', agent.modules]] as const) {
    for (const [name, module] of Object.entries(modules)) {
      try {
        readCreateOptions(module.settings);
      } catch (err) {
        issues.push(`${group}.${name}.settings.createOptions: not valid JSON (${(err as Error).message})`);
      }
    }
  }

  // The module's environment must make a valid Visor config.
  const visor = agent.modules[MODULE_NAME]!;
  const env = Object.fromEntries(Object.entries(visor.env ?? {}).map(([k, v]) => [k, v.value]));
  const checked = checkModuleEnvironment(env, options.moduleConfigFile, `modules.${MODULE_NAME}.env`);
  issues.push(...checked.issues);
  const outputName = checked.config?.events.outputName ?? 'defects';

  // Routes from the Visor module must name the output it sends on.
  const hub = (manifest.modulesContent as Record<string, Record<string, Json>>).$edgeHub!['properties.desired'] as { routes: Record<string, Json> };
  for (const [name, route] of Object.entries(hub.routes ?? {})) {
    const text = typeof route === 'string' ? route : String((route as { route: string }).route);
    const match = /FROM \/messages\/modules\/([^/\s]+)\/outputs\/([^\s]+)/i.exec(text);
    if (match && match[1] === MODULE_NAME && match[2] !== '*' && match[2] !== outputName) {
      issues.push(`$edgeHub.routes.${name}: Visor sends on output "${outputName}", not "${match[2]}"`);
    }
  }

  const desired = (manifest.modulesContent as Record<string, Record<string, Json>>)[MODULE_NAME]?.['properties.desired'];
  if (desired !== undefined && options.checkDesired) {
    try {
      options.checkDesired(desired);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues.map((i) => `${MODULE_NAME}.properties.desired: ${i}`));
    }
  }
  return issues;
}
