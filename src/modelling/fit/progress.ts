// Progress bars for fit and eval on stderr (stdout stays clean for JSON); nothing when stderr is
// not a terminal, so logs and CI output are not filled with redraws.
import cliProgress from 'cli-progress';
import type { ProgressFactory } from './fit.js';

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): ProgressFactory {
  if (!stream.isTTY) return () => ({ tick: () => undefined, stop: () => undefined });
  return (label, total) => {
    const bar = new cliProgress.SingleBar(
      { stream, format: `${label.padEnd(16)} {bar} {value}/{total} {eta_formatted}`, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      tick: () => bar.increment(),
      stop: () => bar.stop(),
    };
  };
}
