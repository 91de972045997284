export * from './schema.js';
export { loadConfig, parseConfig, thresholdIssues, applyEnvOverrides, formatPath, ENV_PREFIX, type LoadedConfig } from './load.js';
export { configReference, schemaReference } from './docs.js';
