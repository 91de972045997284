// One exit-code scheme for every `visor` command: 0 ok, 1 runtime failure, 2 usage or config
// error (bad option, bad number, invalid config file, unusable model package or input folder).
import { CommanderError, type Command } from 'commander';
import { VisorError, errorMessage } from '../common/errors.js';
import { redactText } from '../common/log.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** What was asked for cannot work as given (a bad flag combination, a missing terminal); exit 2. */
export class UsageError extends VisorError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Error codes that mean "what you gave is wrong": fixing the command line, the config or the files helps, retrying does not. */
const USAGE_CODES = new Set(['USAGE', 'CONFIG_INVALID', 'MODEL_PACKAGE_INVALID', 'EXECUTION_PROVIDER_UNAVAILABLE', 'FIT_INPUT_INVALID']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof VisorError && USAGE_CODES.has(err.code)) return EXIT.usage;
  return EXIT.failure;
}

/** Prints what went wrong as one message (no stack trace) and sets the exit code by the scheme. */
export function reportFailure(command: string, err: unknown): void {
  process.stderr.write(`${command}: ${redactText(errorMessage(err))}\n`);
  process.exitCode = exitCodeFor(err);
}

function everyCommand(command: Command): Command[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

/**
 * Parses and runs the program. Commander's own errors (unknown option, missing or invalid
 * argument) and every error a command throws end here, so all commands share the scheme.
 */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  let running = program.name();
  // Every command, also those registered by other modules: commander would exit(1) by itself.
  for (const command of everyCommand(program)) command.exitOverride();
  program.hook('preAction', (_program, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c; c = c.parent) names.unshift(c.name());
    running = names.join(' ');
  });
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    // Commander has printed its message (and the help) already.
    if (err instanceof CommanderError) process.exitCode = exitCodeFor(err);
    else reportFailure(running, err);
  }
}
