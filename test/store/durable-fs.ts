// A file system that keeps only what was synced, for power-loss tests: a process run with
// durableFsEnv() snapshots each file at fsync/fdatasync and each folder's entries at its fsync
// (test/store/durable-fs.c, compiled here with the system's C compiler); afterPowerLoss() then
// rebuilds the folder as a disk would hold it after the power went: only folder entries that
// were synced, each file with the content of its last sync (empty if it never had one).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Compiles an LD_PRELOAD shim of this folder (`name`.c) into `dir`; returns the shared library's path. */
export async function buildShim(dir: string, name: string): Promise<string> {
  const source = path.join(HERE, `${name}.c`);
  const out = path.join(dir, `${name}.so`);
  try {
    await promisify(execFile)('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', out, source, '-ldl', '-lpthread']);
  } catch (err) {
    throw new Error(`cannot compile ${path.basename(source)} with cc (scripts/system-deps.sh --test installs gcc): ${(err as Error).message}`);
  }
  return out;
}

/** Compiles the power-loss shim (durable-fs.c) into `dir`; returns the shared library's path. */
export function buildDurableFs(dir: string): Promise<string> {
  return buildShim(dir, 'durable-fs');
}

/** Environment for a child process whose writes under `watched` are recorded into `shadow`. */
export function durableFsEnv(library: string, watched: string, shadow: string): NodeJS.ProcessEnv {
  for (const sub of ['files', 'dirs']) fs.mkdirSync(path.join(shadow, sub), { recursive: true });
  return {
    LD_PRELOAD: library,
    DURABLE_WATCH: fs.realpathSync(watched),
    DURABLE_SHADOW: shadow,
    // Synchronous fs calls go through libc; keep libuv from submitting any through io_uring.
    UV_USE_IO_URING: '0',
  };
}

/** The synced state of `watched` (a folder that existed before the recorded process started), written to `out`. */
export function afterPowerLoss(watched: string, shadow: string, out: string): void {
  const rebuild = (ino: number, to: string) => {
    fs.mkdirSync(to, { recursive: true });
    const listing = path.join(shadow, 'dirs', String(ino));
    if (!fs.existsSync(listing)) return;
    for (const line of fs.readFileSync(listing, 'utf8').split('\n').filter(Boolean)) {
      const [kind, entryIno, ...name] = line.split(' ');
      const target = path.join(to, name.join(' '));
      if (kind === 'd') {
        rebuild(Number(entryIno), target);
      } else {
        const content = path.join(shadow, 'files', entryIno!);
        fs.writeFileSync(target, fs.existsSync(content) ? fs.readFileSync(content) : Buffer.alloc(0));
      }
    }
  };
  rebuild(fs.statSync(watched).ino, out);
}
