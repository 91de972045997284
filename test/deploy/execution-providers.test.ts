// The CPU image carries onnxruntime-node's CPU build only. A deployment that asks for a GPU
// provider (the module's VISOR_MODEL__EXECUTION_PROVIDERS) must stop at start-up, naming the
// provider, with exit code 2, not run on the CPU unnoticed. scripts/image.sh checks the same in
// the built image.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineConfig, tempDir } from '../events/helpers.js';
import { CLI } from '../helpers/paths.js';

const exec = promisify(execFile);
let dir: string;
let cleanup: () => Promise<void>;
let configFile: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-providers-'));
  configFile = path.join(dir, 'visor.json');
  await writeFile(configFile, JSON.stringify(lineConfig(dir, {})));
});

afterAll(async () => {
  await cleanup?.();
});

describe('GPU execution providers on the CPU build', () => {
  for (const [provider, native] of [['cuda', 'CUDAExecutionProvider'], ['tensorrt', 'TensorrtExecutionProvider']] as const) {
    it(`visor run refuses "${provider}" at start-up with exit 2 and a message naming it`, async () => {
      const env = { PATH: process.env.PATH, VISOR_MODEL__EXECUTION_PROVIDERS: JSON.stringify([provider]) };
      const failed = await exec(process.execPath, [...CLI, 'run', '--config', configFile], { env, timeout: 60_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(failed.code).toBe(2);
      expect(failed.stderr).toContain(`visor: cannot start: execution provider "${provider}" (${native}) could not be started`);
      expect(failed.stderr).toContain('remove it from model.executionProviders (Visor does not fall back silently)');
    });
  }
});
