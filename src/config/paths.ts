import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root folder (holds models/ and config/). */
export const INSTALL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Resolves a path from the config: against the config's folder, then the install folder. */
export function resolvePath(baseDir: string, p: string): string {
  if (path.isAbsolute(p)) return p;
  const local = path.resolve(baseDir, p);
  if (existsSync(local)) return local;
  const installed = path.resolve(INSTALL_DIR, p);
  return existsSync(installed) ? installed : local;
}
