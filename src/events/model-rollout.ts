// Model updates from the twin's desired `model` and the reloadModel method: one at a time, in
// the order asked; a refused package leaves the running model in place. The desired model is
// the last reference the twin named: a refusal that may pass on a later try (a failed
// download: VisorError.retryable) is tried again with the events backoff, a permanent one
// (hash mismatch, invalid package, HTTP 4xx) not until the twin names another reference.
// Download and verification: model-update.ts.
import { backoffDelay } from '../common/backoff.js';
import { errorMessage, isRetryable } from '../common/errors.js';
import type { AppContext, Extension } from '../line/extension.js';
import type { EventsExtension } from './link.js';
import { fetchModelPackage, safeUrl, type ModelReference } from './model-update.js';

/** Reported as `modelUpdate`. */
export interface ModelUpdateReport {
  sha256: string;
  /** Without the query string (a SAS signature lives there). */
  url: string;
  status: 'downloading' | 'applied' | 'rejected';
  error?: string;
  at: string;
  /** When the next attempt is due, while a refused desired model is retried. */
  retryAt?: string;
}

export interface ModelRollout extends Extension {
  /** Reloads the package in use (no reference) or downloads, verifies and swaps in a reference, after what was asked before. */
  apply(ref: ModelReference | undefined, source: string): Promise<{ name: string; version: string }>;
  /** The desired model: applied unless it is in use, under way, waiting for its retry or refused for good. */
  desire(ref: ModelReference, source: string): void;
}

export function createModelRollout(ctx: AppContext, events: EventsExtension): ModelRollout {
  const { log } = events;
  const at = () => new Date().toISOString();
  let report: ModelUpdateReport | undefined;
  /** Whether the last refusal may pass on a later try. */
  let refusalRetryable = false;
  let chain: Promise<unknown> = Promise.resolve();
  let desired: ModelReference | undefined;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let removeSection: (() => void) | undefined;

  function apply(ref: ModelReference | undefined, source: string): Promise<{ name: string; version: string }> {
    const run = async () => {
      if (ref) report = { sha256: ref.sha256, url: safeUrl(ref.url), status: 'downloading', at: at() };
      events.reported.soon();
      try {
        const dir = ref ? await fetchModelPackage(ref, { dataDir: ctx.store.dataDir, log }) : ctx.control.modelDir;
        const manifest = await ctx.control.swapModel(dir);
        if (ref) report = { ...report!, status: 'applied', at: at() };
        log.info({ source, model: manifest.name, version: manifest.version }, 'model updated');
        return { name: manifest.name, version: manifest.version };
      } catch (err) {
        if (ref) {
          report = { ...report!, status: 'rejected', error: errorMessage(err), at: at() };
          refusalRetryable = isRetryable(err);
        }
        log.error({ err, source }, 'model update refused; the running model stays');
        throw err;
      } finally {
        events.reported.soon();
      }
    };
    const result = chain.then(run, run);
    chain = result.catch(() => undefined);
    return result;
  }

  function attempt(ref: ModelReference, source: string): void {
    apply(ref, source).then(
      () => {
        failures = 0;
      },
      (err: unknown) => {
        if (stopped || desired !== ref || !isRetryable(err)) return;
        failures += 1;
        const delay = backoffDelay(failures, events.backoff, events.random);
        report = { ...report!, retryAt: new Date(Date.now() + delay).toISOString() };
        log.info({ failures, retryInMs: delay }, 'model update will be tried again');
        events.reported.soon();
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          if (!stopped && desired === ref) attempt(ref, source);
        }, delay);
        retryTimer.unref();
      },
    );
  }

  return {
    name: 'events-model',
    apply,
    desire(ref, source) {
      // Not fetched again on every patch or reconnect: the same package in use or under way,
      // or the same reference waiting for its retry or refused for good.
      const same = report !== undefined && report.sha256 === ref.sha256;
      if (same && report!.status !== 'rejected') return;
      if (same && report!.url === safeUrl(ref.url) && (retryTimer !== undefined || !refusalRetryable)) return;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      desired = ref;
      failures = 0;
      attempt(ref, source);
    },
    async start() {
      // Reported properties merge: a key this report no longer has is sent as null, or the
      // twin would keep a stale `retryAt` or `error` from an earlier attempt beside `applied`.
      removeSection = events.reported.section('modelUpdate', () => (report ? { error: null, retryAt: null, ...report } : null));
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await chain;
      removeSection?.();
    },
  };
}
