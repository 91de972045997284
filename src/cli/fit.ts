import type { Command } from 'commander';

/** Adds this module's commands to `visor` (none yet). */
export function registerFitCommands(_program: Command): void {}
