import path from 'node:path';
import { createApp } from '../app.js';
import { INSTALL_DIR } from '../config/paths.js';
import { loadConfig } from '../config/index.js';
import { ConfigError, VisorError } from '../common/errors.js';
import { createLogger } from '../common/log.js';

/** The embedded default: the demo line (fixture cells replayed through the shipped model). */
export const DEMO_CONFIG = path.join(INSTALL_DIR, 'config', 'demo.yaml');

export async function runCommand(options: { config?: string }): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(options.config ?? DEMO_CONFIG);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const log = createLogger(loaded.config.log);
  log.info({ config: loaded.source }, 'starting');

  let app;
  try {
    app = await createApp({ config: loaded.config, baseDir: loaded.baseDir, log });
  } catch (err) {
    // Fatal at start-up: a clear message and a non-zero exit.
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`visor: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof VisorError ? 2 : 1;
    return;
  }

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    log.info({ signal }, 'signal received');
    stopping = app.stop().then(
      () => process.exit(process.exitCode ?? 0),
      (err) => {
        log.fatal({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    await app.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    process.stderr.write(`visor: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
    await app.stop();
  }
}
