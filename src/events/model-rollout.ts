// Model updates from the twin's desired `model` and the reloadModel method: one at a time, in
// the order asked; a refused package leaves the running model in place.
// Download and verification: model-update.ts.
import { errorMessage } from '../common/errors.js';
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
}

export interface ModelRollout extends Extension {
  /** Reloads the package in use (no reference) or downloads, verifies and swaps in a reference, after what was asked before. */
  apply(ref: ModelReference | undefined, source: string): Promise<{ name: string; version: string }>;
  /** The desired model: applied unless it is in use, under way or was refused. */
  desire(ref: ModelReference, source: string): void;
}

export function createModelRollout(ctx: AppContext, events: EventsExtension): ModelRollout {
  const { log } = events;
  const at = () => new Date().toISOString();
  let report: ModelUpdateReport | undefined;
  let chain: Promise<unknown> = Promise.resolve();
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
        if (ref) report = { ...report!, status: 'rejected', error: errorMessage(err), at: at() };
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

  return {
    name: 'events-model',
    apply,
    desire(ref, source) {
      // The same reference applied (or under way) is not fetched again on every patch or reconnect.
      if (report && report.sha256 === ref.sha256 && report.status !== 'rejected') return;
      if (report && report.sha256 === ref.sha256 && report.url === safeUrl(ref.url)) return;
      apply(ref, source).catch(() => undefined);
    },
    async start() {
      removeSection = events.reported.section('modelUpdate', () => report ?? null);
    },
    async stop() {
      await chain;
      removeSection?.();
    },
  };
}
