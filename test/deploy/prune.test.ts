// edge-manifest/prune-node-modules.sh, run in the image build: only this platform's native
// binaries stay. (The Dockerfile's earlier prune removed other CPU architectures only, so an
// amd64 image kept onnxruntime-node's win32/x64 binaries, 64 MB.)
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { REPO } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
const SCRIPT = path.join(REPO, 'edge-manifest/prune-node-modules.sh');

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

it('keeps onnxruntime-node and better-sqlite3 binaries of linux/<this arch> only, and drops maps and declarations', async () => {
  const { dir, cleanup } = await tempDir('visor-prune-');
  try {
    const put = async (rel: string) => {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), 'x');
    };
    const ort = 'onnxruntime-node/bin/napi-v6';
    for (const platform of ['linux', 'win32', 'darwin']) for (const arch of ['x64', 'arm64']) await put(`${ort}/${platform}/${arch}/onnxruntime_binding.node`);
    for (const target of ['linux-x64', 'linux-arm64', 'linuxmusl-x64', 'darwin-arm64', 'win32-x64']) await put(`better-sqlite3/prebuilds/${target}.node`);
    await put('better-sqlite3/deps/sqlite3/sqlite3.c');
    await put('better-sqlite3/lib/index.js');
    await put('fastify/fastify.js');
    await put('fastify/fastify.js.map');
    await put('fastify/types/index.d.ts');
    await exec('sh', [SCRIPT, dir]);
    expect(await files(dir)).toEqual([
      'better-sqlite3/lib/index.js',
      `better-sqlite3/prebuilds/linux-${process.arch}.node`,
      'fastify/fastify.js',
      `${ort}/linux/${process.arch}/onnxruntime_binding.node`,
    ]);
  } finally {
    await cleanup();
  }
});

it('fails, naming it, when onnxruntime-node has no binary for this platform', async () => {
  const { dir, cleanup } = await tempDir('visor-prune-');
  try {
    await mkdir(path.join(dir, 'onnxruntime-node/bin/napi-v6/win32/x64'), { recursive: true });
    const failed = await exec('sh', [SCRIPT, dir]).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`onnxruntime-node has no binary for linux/${process.arch}`);
  } finally {
    await cleanup();
  }
});
