// Progress of long commands (fit, eval, dataset pull) on stderr, so stdout stays clean for JSON:
// a bar on a terminal, and elsewhere (CI, a pipe, a log file) a line every few seconds instead
// of redraws or silence.
import cliProgressBars from 'cli-progress';
import type { Progress, ProgressFactory } from '../modelling/fit/index.js';

export const PROGRESS_INTERVAL_MS = 5000;

/** VISOR_PROGRESS_SECONDS sets the interval of progress lines (default 5). */
function intervalFromEnv(): number | undefined {
  const seconds = Number(process.env.VISOR_PROGRESS_SECONDS);
  return process.env.VISOR_PROGRESS_SECONDS && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

export interface ProgressDeps {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Time between lines when the stream is not a terminal. Default: VISOR_PROGRESS_SECONDS, else 5 s. */
  intervalMs?: number;
  now?: () => number;
}

/** m:ss or h:mm:ss. */
export function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const mmss = `${Math.floor(s / 60) % 60}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, '0')}` : mmss;
}

/** Lines like `features 12/40, elapsed 0:05, eta 0:12`: at the start, at most every interval, and at the end. */
export function lineProgress(deps: ProgressDeps = {}): ProgressFactory {
  const stream = deps.stream ?? process.stderr;
  const intervalMs = deps.intervalMs ?? intervalFromEnv() ?? PROGRESS_INTERVAL_MS;
  const now = deps.now ?? Date.now;
  return (label, total) => {
    const started = now();
    let done = 0;
    let printedAt = started;
    let stopped = false;
    const print = (t: number): void => {
      const elapsed = t - started;
      const eta = done > 0 && done < total ? clock((elapsed / done) * (total - done)) : done >= total ? '0:00' : '?';
      stream.write(`${label} ${done}/${total}, elapsed ${clock(elapsed)}, eta ${eta}\n`);
      printedAt = t;
    };
    print(started);
    const progress: Progress = {
      tick: () => {
        done += 1;
        const t = now();
        if (t - printedAt >= intervalMs) print(t);
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        print(now());
      },
    };
    return progress;
  };
}

/** The cli-progress bar on a terminal. */
function barProgress(stream: NodeJS.WritableStream): ProgressFactory {
  return (label, total) => {
    const bar = new cliProgressBars.SingleBar(
      { stream, format: `${label.padEnd(16)} {bar} {value}/{total} {eta_formatted}`, hideCursor: true, clearOnComplete: false },
      cliProgressBars.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { tick: () => bar.increment(), stop: () => bar.stop() };
  };
}

export function cliProgress(deps: ProgressDeps = {}): ProgressFactory {
  const stream = deps.stream ?? process.stderr;
  return stream.isTTY ? barProgress(stream) : lineProgress({ ...deps, stream });
}
