import path from 'node:path';
import { INSTALL_DIR } from '../config/paths.js';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../common/log.js';
import { EXIT, reportFailure } from './exit.js';

/** The embedded default: the demo line (fixture cells replayed through the shipped model). */
export const DEMO_CONFIG = path.join(INSTALL_DIR, 'config', 'demo.yaml');

export async function runCommand(options: { config?: string }): Promise<void> {
  // An invalid config throws: main reports it with exit code 2.
  const loaded = loadConfig(options.config ?? DEMO_CONFIG);
  const log = createLogger(loaded.config.log);
  log.info({ config: loaded.source }, 'starting');

  let app;
  try {
    // Loaded here: the whole line (SDKs, fastify, onnxruntime) is only for `visor run`.
    const { createApp } = await import('../app.js');
    app = await createApp({ config: loaded.config, baseDir: loaded.baseDir, log });
  } catch (err) {
    // Fatal at start-up: a clear message and a non-zero exit.
    log.fatal({ err }, 'cannot start');
    reportFailure('visor: cannot start', err);
    return;
  }

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    log.info({ signal }, 'signal received');
    stopping = app.stop().then(
      () => process.exit(process.exitCode ?? EXIT.ok),
      (err) => {
        log.fatal({ err }, 'stop failed');
        process.exit(EXIT.failure);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    await app.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    reportFailure('visor: cannot start', err);
    await app.stop();
  }
}
