// The `visor` CLI as a user runs it: a separate process, its exit code and both streams.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from './paths.js';

const exec = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `visor ARGS` from source with extra environment variables; never throws on a non-zero exit. */
export async function runVisor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
