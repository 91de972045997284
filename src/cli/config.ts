import { configReference, loadConfig } from '../config/index.js';

export function configCheckCommand(options: { config: string }): void {
  const { config, source } = loadConfig(options.config);
  process.stdout.write(`${source}: ok (${config.cameras.length} camera${config.cameras.length === 1 ? '' : 's'})\n`);
}

export function configDocsCommand(): void {
  process.stdout.write(`${configReference()}\n`);
}
