// Builds the review UI (dist/ui) before browser tests when it is missing or older than its sources.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/paths.js';

export const UI_SRC = path.join(REPO, 'src/review/ui');
export const UI_DIST = path.join(REPO, 'dist/ui');

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function ensureUiBuilt(): Promise<string> {
  let built = 0;
  try {
    built = statSync(path.join(UI_DIST, 'index.html')).mtimeMs;
  } catch {
    // not built yet
  }
  if (built < newest(UI_SRC)) {
    const { build } = await import('vite');
    await build({ configFile: path.join(UI_SRC, 'vite.config.ts'), logLevel: 'error' });
  }
  return UI_DIST;
}
