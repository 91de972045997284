import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(REPO, 'test/fixtures/elpv');
export const DEMO_MODEL = path.join(REPO, 'models/elpv-cells');
/** Runs the CLI from source. */
export const CLI = ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts')];
