import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/common/log.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';

export { tempDir } from '../helpers/temp.js';
export { until } from '../helpers/wait.js';

/** A real pino logger whose lines are kept, to check what reaches the log. */
export function captureLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger({ level, destination }), lines };
}


/** The config of a test line: folder camera(s) over the fixtures, the demo model, events as given. */
export function lineConfig(dir: string, events: Record<string, unknown>, extra: { cameras?: string[]; defect?: number; fps?: number } = {}) {
  return {
    cameras: (extra.cameras ?? ['a']).map((id) => ({ id, source: FIXTURES, fps: extra.fps ?? 8, fullResolution: false })),
    model: { package: DEMO_MODEL, thresholds: { defect: extra.defect ?? 0 } },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
    review: { enabled: false },
    events: { backoffInitialMs: 100, backoffMaxMs: 500, ...events },
  };
}

export async function startLine(dir: string, events: Record<string, unknown>, options: { log?: Logger; cameras?: string[]; defect?: number } = {}): Promise<App> {
  const config = parseConfig(lineConfig(dir, events, options));
  const app = await createApp({ config, baseDir: dir, log: options.log ?? captureLogger('warn').log });
  await app.start();
  return app;
}

export async function writeCa(dir: string, ca: string): Promise<string> {
  const file = path.join(dir, 'hub-ca.pem');
  await writeFile(file, ca);
  return file;
}
