import type { Command } from 'commander';

/** Adds this module's commands to `visor` (none yet). */
export function registerUserCommands(_program: Command): void {}
