import { configReference, loadConfig } from '../config/index.js';
import { ConfigError } from '../common/errors.js';

export function configCheckCommand(options: { config: string }): void {
  try {
    const { config, source } = loadConfig(options.config);
    process.stdout.write(`${source}: ok (${config.cameras.length} camera${config.cameras.length === 1 ? '' : 's'})\n`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
  }
}

export function configDocsCommand(): void {
  process.stdout.write(`${configReference()}\n`);
}
