import type { Command } from 'commander';

/** Adds this module's commands to `visor` (none yet). */
export function registerDatasetCommands(_program: Command): void {}
