// Reported properties of the module twin: every events extension contributes sections (keys
// of the reported document); the whole document goes out, debounced, after a change and on
// every connect. Without a hub (local sink) nothing is reported.
import type { Logger } from '../common/log.js';
import type { HubConnection } from './hub.js';

export interface ReportedState {
  /** Adds the section `key`; `read` gives its value for every report. Returns the function that removes it. */
  section(key: string, read: () => unknown): () => void;
  /** Reports the whole document soon: changes within the debounce go out together. */
  soon(): void;
  /** No more reports (the connection is going). */
  stop(): void;
}

const REPORT_DEBOUNCE_MS = 500;

export function createReportedState(deps: { hub: HubConnection | undefined; log: Logger; debounceMs?: number }): ReportedState {
  const { hub, log } = deps;
  const sections = new Map<string, () => unknown>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  function document(): Record<string, unknown> {
    const doc: Record<string, unknown> = {};
    for (const [key, read] of sections) doc[key] = read();
    return doc;
  }

  return {
    section(key, read) {
      sections.set(key, read);
      return () => {
        if (sections.get(key) === read) sections.delete(key);
      };
    },
    soon() {
      if (!hub || timer || stopped) return;
      timer = setTimeout(() => {
        timer = undefined;
        hub.updateReported(document()).catch((err: unknown) => log.warn({ err }, 'could not update reported properties'));
      }, deps.debounceMs ?? REPORT_DEBOUNCE_MS);
      timer.unref();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
