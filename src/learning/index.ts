// The learning loop (docs/learning.md): reviewed verdicts → a candidate fitted on the device →
// a shadow run beside the live model → comparison on the reviewed frames both scored →
// promotion by the rule (by hand or automatically) through the line's verified hot swap, with
// one-click rollback. The review API and UI reach it through `Learning`; IoT Hub hears of each
// promotion and rollback through the bus (`modelChange`).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../common/errors.js';
import type { LearningConfig } from '../config/schema.js';
import { resolvePath } from '../config/paths.js';
import { loadModelPackage, openInferencer } from '../inference/index.js';
import type { AppContext, Extension } from '../line/extension.js';
import { compareModels, hasEnoughFrames, promotionVerdict, type Comparison, type PromotionVerdict } from './compare.js';
import { uploadCandidate, type FleetUpload } from './fleet.js';
import { createLearningRecords, type CandidateRecord, type ModelChange } from './records.js';
import { createShadow, type ShadowStatus } from './shadow.js';
import { LearningError, MIN_GOOD_IMAGES, startFit, trainingSet, type FitProgress, type FitRun } from './train.js';

export { compareModels, promotionVerdict, type Comparison, type PromotionVerdict } from './compare.js';
export { LearningError } from './train.js';
export type { CandidateRecord, ModelChange } from './records.js';
export type { ShadowStatus } from './shadow.js';
export type { FleetUpload } from './fleet.js';

export interface TrainingStatus {
  version: string;
  source: string;
  startedAt: number;
  /** The fitting process (at learning.train.nice). */
  pid?: number;
  progress?: FitProgress;
}

export interface LearningStatus {
  live: { name: string; version: string };
  /** What a rollback would go back to, when the live model came from a promotion. */
  rollbackTo?: { version: string };
  /** The candidate in shadow; its dataset as a count (the images are in dataset.json of a fleet upload). */
  candidate?: Omit<CandidateRecord, 'dataset'> & { datasetImages?: number };
  shadow?: ShadowStatus & { disagreements: number; liveOk: number; liveDefect: number; scoredTotal: number };
  training?: TrainingStatus;
  lastTrainingError?: string;
  rule: LearningConfig['promotion'];
  /** Whether the rule allows promoting the candidate now, and why. */
  promotion?: PromotionVerdict;
  /** Verdicts still to come before the "every N verdicts" rule fits a candidate (absent when the rule is off). */
  verdictsToNextFit?: number;
  /** When the rule may start its next fit (learning.train.minMinutesBetween after the last fit started; absent when the rule is off). */
  nextRuleFitAfter?: number;
  changes: ModelChange[];
}

export interface Learning {
  status(): LearningStatus;
  /** The comparison of the shadow candidate with the live model (undefined without a candidate). */
  comparison(): CandidateComparison | undefined;
  /** Starts fitting a candidate from the store (409 while one is fitting, 400 with too few images); resolves when the fit has started. */
  train(source: string): Promise<TrainingStatus>;
  /** Resolves when the fit under way (if any) has finished and its candidate runs in shadow. */
  trained(): Promise<void>;
  /** Shadows a package folder as the candidate. */
  useCandidate(dir: string, source: string): Promise<CandidateRecord>;
  /** Makes the candidate live when the rule allows it (409 with the reason when not). */
  promote(user: string): Promise<ModelChange>;
  /** Goes back to the model before the last promotion (409 when the live model came from none). */
  rollback(user: string): Promise<ModelChange>;
  /** Uploads the candidate, its dataset manifest and comparison to Blob Storage. */
  uploadCandidate(): Promise<FleetUpload>;
}

/** The comparison with the versions compared and what the promotion rule makes of it. */
export interface CandidateComparison extends Comparison {
  candidateVersion: string;
  liveVersion: string;
  promotion: PromotionVerdict;
}

export interface LearningExtension extends Extension {
  readonly learning: Learning;
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').toLowerCase();

export function createLearningExtension(ctx: AppContext): LearningExtension | undefined {
  const config = ctx.config.learning;
  if (!config.enabled) return undefined;
  const log = ctx.log.child({ module: 'learning' });
  const { store, control, bus } = ctx;
  const records = createLearningRecords(store.db);
  const shadow = createShadow({ bus, store, records, share: config.shadow.share, keepDisagreements: config.shadow.keepDisagreements, jpegQuality: ctx.config.store.jpegQuality, log });
  const candidatesDir = path.join(store.dataDir, 'learning', 'candidates');
  let training: (TrainingStatus & { run: FitRun; done: Promise<void> }) | undefined;
  let lastTrainingError: string | undefined;
  let stopped = false;
  let changing: Promise<unknown> = Promise.resolve();
  const offs: Array<() => void> = [];

  const live = () => control.inferencer.manifest;
  /** The candidate in shadow and its record. */
  const current = (): CandidateRecord | undefined => {
    const c = shadow.candidate;
    return c ? records.candidate(c.version) : undefined;
  };

  /** `resamples` 0: the point figures only (what the rule reads), for the status every page polls. */
  function comparison(resamples = config.promotion.bootstrap): CandidateComparison | undefined {
    const c = shadow.candidate;
    if (!c) return undefined;
    // Frames inspected by another live model (one swapped in by the twin meanwhile) compare something else.
    const result = compareModels(records.reviewedPairs(c.version, live().version), { resamples });
    return { ...result, candidateVersion: c.version, liveVersion: live().version, promotion: promotionVerdict(result, config.promotion) };
  }

  /** The promotion that made the live model live, if the newest change is one. */
  function lastPromotion(): ModelChange | undefined {
    const newest = records.changes(1)[0];
    return newest?.action === 'promote' && newest.toVersion === live().version ? newest : undefined;
  }

  async function shadowPackage(dir: string, version: string): Promise<void> {
    const inferencer = await openInferencer({ pkg: await loadModelPackage(dir), executionProviders: ctx.config.model.executionProviders, threads: ctx.config.model.threads, worker: ctx.config.model.worker, log });
    await shadow.run(version, inferencer);
  }

  async function useCandidate(dir: string, source: string): Promise<CandidateRecord> {
    const pkg = await loadModelPackage(dir);
    const version = pkg.manifest.version;
    const before = shadow.candidate?.version;
    await shadowPackage(dir, version);
    if (before && before !== version) records.setCandidate(before, { status: 'retired' });
    const existing = records.candidate(version);
    const record: CandidateRecord = { ...(existing ?? { createdAt: Date.now(), source }), version, dir, status: 'ready', source: existing?.source ?? source };
    records.putCandidate(record);
    return record;
  }

  /** Queued one after the other: promotions, rollbacks and candidates never interleave. */
  function serial<T>(run: () => Promise<T>): Promise<T> {
    const result = changing.then(run, run);
    changing = result.catch(() => undefined);
    return result;
  }

  async function maybeUpload(record: CandidateRecord, withComparison: boolean): Promise<void> {
    if (!config.fleet.upload) return;
    if (!ctx.config.upload.enabled) {
      log.warn('learning.fleet.upload is on but the upload section is off; the candidate stays on the device');
      return;
    }
    try {
      const fleet = await uploadCandidate({ config: ctx.config.upload, candidate: record, comparison: withComparison ? comparison() : undefined });
      records.setCandidate(record.version, { fleet });
      log.info({ candidate: record.version, prefix: fleet.prefix }, 'candidate uploaded for the fleet');
    } catch (err) {
      log.warn({ err, candidate: record.version, detail: errorMessage(err) }, 'candidate could not be uploaded; it stays on the device');
    }
  }

  async function train(source: string): Promise<TrainingStatus> {
    if (training) throw new LearningError('TRAINING_UNDER_WAY', `candidate ${training.version} is being fitted (${source} asked again)`);
    const at = Date.now();
    const manifest = live();
    const dataset = trainingSet(store, { maxImages: config.train.maxImages, unreviewedOk: config.train.unreviewedOk, liveModel: { name: manifest.name, version: manifest.version } });
    const good = dataset.images.filter((i) => i.label === 'good');
    if (good.length < MIN_GOOD_IMAGES) {
      throw new LearningError('TOO_FEW_IMAGES', `a candidate needs at least ${MIN_GOOD_IMAGES} good images with a stored image; the store has ${good.length} (${dataset.images.length} usable images in all)`, { status: 400 });
    }
    // One suffix, not one per generation: a candidate of a learned model is named after the model it descends from.
    const version = `${manifest.version.replace(/-learned\.[0-9t]+$/, '')}-learned.${stamp(at)}`;
    const dir = path.join(candidatesDir, version);
    await mkdir(candidatesDir, { recursive: true });
    const record: CandidateRecord = { version, dir, status: 'fitting', source, createdAt: at, dataset };
    records.putCandidate(record);
    const run = startFit(
      {
        good: good.map((i) => i.file),
        labelled: dataset.images.filter((i) => i.reviewed).map((i) => ({ file: i.file, label: i.label })),
        outDir: dir,
        name: manifest.name,
        version,
        search: config.train.search,
        threads: config.train.threads,
        provenance: { learning: { source, liveModel: dataset.liveModel, images: dataset.images.length, reviewed: dataset.images.filter((i) => i.reviewed).length } },
      },
      { nice: config.train.nice, log, onProgress: (p) => training && (training.progress = p) },
    );
    log.info({ candidate: version, source, images: dataset.images.length, pid: run.pid, nice: config.train.nice }, 'fitting a candidate');
    const done = run.result.then(
      async (fit) => {
        records.setCandidate(version, { status: 'ready', finishedAt: Date.now() });
        log.info({ candidate: version, seconds: fit.seconds }, 'candidate fitted');
        lastTrainingError = undefined;
        if (stopped) return;
        await serial(() => useCandidate(dir, source));
        await maybeUpload(records.candidate(version)!, false);
      },
      (err: unknown) => {
        lastTrainingError = errorMessage(err);
        records.setCandidate(version, { status: 'failed', finishedAt: Date.now(), error: lastTrainingError });
        log.error({ err, candidate: version, detail: lastTrainingError }, 'candidate could not be fitted');
      },
    ).catch((err: unknown) => {
      lastTrainingError = errorMessage(err);
      records.setCandidate(version, { status: 'failed', error: lastTrainingError });
      log.error({ err, candidate: version }, 'fitted candidate could not be shadowed');
    }).finally(() => {
      training = undefined;
    });
    training = { version, source, startedAt: at, ...(run.pid !== undefined ? { pid: run.pid } : {}), run, done };
    return { version, source, startedAt: at, ...(run.pid !== undefined ? { pid: run.pid } : {}) };
  }

  function promote(user: string): Promise<ModelChange> {
    return serial(async () => {
      const candidate = current();
      if (!candidate) throw new LearningError('NO_CANDIDATE', 'no candidate runs in shadow');
      const compared = comparison()!;
      if (!compared.promotion.allowed) throw new LearningError('PROMOTION_REFUSED', `candidate ${candidate.version} is not promoted: ${compared.promotion.reason}`);
      const from = { manifest: live(), dir: control.modelDir };
      // The line's verified hot swap: the package is loaded, checked against its graph and warmed up, then swapped in between frames.
      const manifest = await control.swapModel(candidate.dir);
      await shadow.clear();
      records.setCandidate(candidate.version, { status: 'promoted' });
      const summary = { frames: compared.frames, live: { auroc: compared.live.auroc.value }, candidate: { auroc: compared.candidate.auroc.value } };
      const change = records.addChange({ at: Date.now(), action: 'promote', user, fromVersion: from.manifest.version, fromDir: from.dir, toVersion: manifest.version, toDir: candidate.dir, comparison: compared });
      log.info({ user, from: from.manifest.version, to: manifest.version, reason: compared.promotion.reason }, 'candidate promoted');
      bus.emit('modelChange', { action: 'promote', from: { name: from.manifest.name, version: from.manifest.version }, to: { name: manifest.name, version: manifest.version }, user, at: change.at, comparison: summary });
      await maybeUpload({ ...candidate, status: 'promoted' }, true).catch(() => undefined);
      return change;
    });
  }

  function rollback(user: string): Promise<ModelChange> {
    return serial(async () => {
      const promotion = lastPromotion();
      if (!promotion) throw new LearningError('NOTHING_TO_ROLL_BACK', `the live model ${live().version} did not come from a promotion`);
      const from = live();
      const fromDir = control.modelDir;
      const manifest = await control.swapModel(promotion.fromDir);
      const change = records.addChange({ at: Date.now(), action: 'rollback', user, fromVersion: from.version, fromDir, toVersion: manifest.version, toDir: promotion.fromDir });
      records.setCandidate(from.version, { status: 'retired' });
      log.info({ user, from: from.version, to: manifest.version }, 'model rolled back');
      bus.emit('modelChange', { action: 'rollback', from: { name: from.name, version: from.version }, to: { name: manifest.name, version: manifest.version }, user, at: change.at });
      return change;
    });
  }

  /** After each verdict: the "every N verdicts" rule and the automatic promotion. */
  let checkTimer: NodeJS.Timeout | undefined;
  let coolDownTimer: NodeJS.Timeout | undefined;
  function afterVerdict(delayMs = 500): void {
    if (checkTimer) return;
    checkTimer = setTimeout(() => {
      checkTimer = undefined;
      if (stopped) return;
      // A candidate in shadow gets its chance first: no new fit replaces it before it has the reviewed frames the rule needs.
      const waiting = shadow.candidate !== undefined && !hasEnoughFrames(comparison(0)!, config.promotion);
      const due = config.train.everyVerdicts > 0 && !training && !waiting && verdictsToNextFit()! <= 0;
      const wait = due ? nextRuleFitAfter()! - Date.now() : 0;
      if (due && wait > 0) {
        // Held back by minMinutesBetween: look again when the time is up, verdicts or not.
        if (!coolDownTimer) {
          coolDownTimer = setTimeout(() => {
            coolDownTimer = undefined;
            afterVerdict(0);
          }, wait + 10);
          coolDownTimer.unref();
        }
      } else if (due) {
        train('rule').catch((err: unknown) => {
          lastTrainingError = errorMessage(err);
          log.info({ detail: lastTrainingError }, 'the every-N-verdicts rule could not fit a candidate yet');
        });
      }
      if (config.promotion.auto && shadow.candidate && comparison(0)?.promotion.allowed) {
        promote('auto').catch((err: unknown) => log.warn({ err, detail: errorMessage(err) }, 'automatic promotion failed'));
      }
    }, delayMs);
    checkTimer.unref();
  }

  /** When the newest candidate was fitted (or registered): the every-N rule counts from it. */
  const lastFitAt = (): number | undefined => records.candidates(1)[0]?.createdAt;

  function nextRuleFitAfter(): number | undefined {
    if (config.train.everyVerdicts <= 0) return undefined;
    const last = lastFitAt();
    return last === undefined ? 0 : last + config.train.minMinutesBetween * 60_000;
  }

  function verdictsToNextFit(): number | undefined {
    if (config.train.everyVerdicts <= 0) return undefined;
    const since = lastFitAt() ?? 0;
    return Math.max(0, config.train.everyVerdicts - records.verdictsSince(since));
  }

  const learning: Learning = {
    status() {
      const c = shadow.candidate;
      const s = shadow.status();
      const promotion = lastPromotion();
      const counts = c ? records.shadowCounts(c.version) : undefined;
      const record = c ? records.candidate(c.version) : undefined;
      const summary = ({ dataset, ...rest }: CandidateRecord) => ({ ...rest, ...(dataset ? { datasetImages: dataset.images.length } : {}) });
      const next = verdictsToNextFit();
      return {
        live: { name: live().name, version: live().version },
        ...(promotion ? { rollbackTo: { version: promotion.fromVersion } } : {}),
        ...(record ? { candidate: summary(record) } : {}),
        ...(s && counts ? { shadow: { ...s, disagreements: counts.disagreements, liveOk: counts.liveOk, liveDefect: counts.liveDefect, scoredTotal: counts.scored } } : {}),
        ...(training ? { training: { version: training.version, source: training.source, startedAt: training.startedAt, ...(training.pid !== undefined ? { pid: training.pid } : {}), ...(training.progress ? { progress: training.progress } : {}) } } : {}),
        ...(lastTrainingError ? { lastTrainingError } : {}),
        rule: config.promotion,
        ...(c ? { promotion: comparison(0)!.promotion } : {}),
        ...(next !== undefined ? { verdictsToNextFit: next, nextRuleFitAfter: nextRuleFitAfter()! } : {}),
        changes: records.changes(20),
      };
    },
    comparison: () => comparison(),
    train,
    trained: async () => {
      await training?.done;
      await changing;
    },
    useCandidate: (dir, source) => serial(() => useCandidate(dir, source)),
    promote,
    rollback,
    async uploadCandidate() {
      const candidate = current();
      if (!candidate) throw new LearningError('NO_CANDIDATE', 'no candidate runs in shadow');
      if (!ctx.config.upload.enabled) throw new LearningError('UPLOAD_OFF', 'uploads are off (the upload section is not enabled)', { status: 503 });
      const fleet = await uploadCandidate({ config: ctx.config.upload, candidate, comparison: comparison() });
      records.setCandidate(candidate.version, { fleet });
      return fleet;
    },
  };

  return {
    name: 'learning',
    learning,
    async start() {
      // A promotion outlives a restart: the config still names the package it replaced.
      const newest = records.changes(1)[0];
      if (newest && newest.toDir !== control.modelDir && existsSync(newest.toDir)) {
        try {
          await control.swapModel(newest.toDir);
          log.info({ model: newest.toVersion, action: newest.action }, 'the model of the last promotion or rollback is live again');
        } catch (err) {
          log.error({ err, dir: newest.toDir }, 'the model of the last promotion or rollback could not be loaded; the configured one stays');
        }
      }
      // Candidates left fitting by a stop did not finish.
      for (const c of records.candidates(20)) if (c.status === 'fitting') records.setCandidate(c.version, { status: 'failed', error: 'the line stopped while it was fitted' });
      const resume = records.candidates(20).find((c) => c.status === 'ready' && existsSync(c.dir));
      const configured = config.candidate ? resolvePath(ctx.baseDir, config.candidate) : undefined;
      try {
        if (resume) await useCandidate(resume.dir, resume.source);
        else if (configured) {
          // Once promoted or retired, the configured candidate has had its turn.
          const version = (await loadModelPackage(configured)).manifest.version;
          const had = records.candidate(version)?.status;
          if (version !== live().version && had !== 'promoted' && had !== 'retired') await useCandidate(configured, 'config');
        }
      } catch (err) {
        log.error({ err, detail: errorMessage(err) }, 'the candidate could not be loaded; no shadow run');
      }
      offs.push(bus.on('review', () => afterVerdict()));
    },
    async stop() {
      stopped = true;
      clearTimeout(checkTimer);
      clearTimeout(coolDownTimer);
      for (const off of offs.splice(0)) off();
      training?.run.cancel();
      await training?.done;
      await changing;
      await shadow.close();
    },
  };
}
