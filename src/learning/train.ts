// Fitting a candidate: the images come from the store (the verdict in force of each reviewed
// inspection, as `visor fit --from-store` reads it, plus optionally the stored ok frames nobody
// reviewed), the fit runs in a child process at low priority (fit-worker.ts), so the line keeps
// its frame rate, and reports its progress.
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { VisorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { labelOf, type Store } from '../store/index.js';
import type { FitJob, FitMessage } from './fit-worker.js';
import type { DatasetManifest } from './records.js';
import { workerEntry } from '../common/worker-entry.js';

/** visor fit needs at least this many good images (src/modelling/fit MIN_GOOD). */
export const MIN_GOOD_IMAGES = 10;

export class LearningError extends VisorError {
  /** The HTTP status the review API answers with. */
  readonly statusCode: number;
  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.statusCode = options.status ?? 409;
  }
}

/** The images a candidate is fitted on, newest first up to `maxImages`: reviewed ones first, then (optionally) unreviewed ok frames. */
export function trainingSet(store: Store, options: { maxImages: number; unreviewedOk: boolean; liveModel: { name: string; version: string } }): DatasetManifest {
  const images: DatasetManifest['images'] = [];
  let skipped = 0;
  for (const i of store.reviews.find({ review: 'reviewed' }, options.maxImages)) {
    const label = labelOf(i.verdict, i.review);
    if (!label.reviewed || i.imagePath === undefined) {
      skipped++;
      continue;
    }
    images.push({ inspectionId: i.id, cameraId: i.cameraId, file: store.imageFile(i.imagePath), label: label.label.toLowerCase() === 'good' ? 'good' : 'defect', reviewed: true });
  }
  if (options.unreviewedOk && images.length < options.maxImages) {
    for (const i of store.reviews.find({ review: 'unreviewed', verdict: 'ok' }, options.maxImages * 4)) {
      if (images.length >= options.maxImages) break;
      if (i.imagePath === undefined) continue;
      images.push({ inspectionId: i.id, cameraId: i.cameraId, file: store.imageFile(i.imagePath), label: 'good', reviewed: false });
    }
  }
  return { liveModel: options.liveModel, images, skipped };
}

export interface FitProgress {
  label: string;
  done: number;
  total: number;
}

export interface FitRun {
  readonly pid: number | undefined;
  readonly result: Promise<Extract<FitMessage, { type: 'done' }>>;
  cancel(): void;
}


/** Forks the fitting process at priority `nice` and hands it the job. */
export function startFit(job: FitJob, deps: { nice: number; log: Logger; onProgress: (p: FitProgress) => void }): FitRun {
  const { url, execArgv } = workerEntry(import.meta.url, 'fit-worker');
  const file = url.pathname;
  const child: ChildProcess = fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  if (child.pid !== undefined) {
    try {
      os.setPriority(child.pid, deps.nice);
    } catch (err) {
      deps.log.warn({ err, nice: deps.nice }, 'could not lower the priority of the fitting process; it runs at normal priority');
    }
  }
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const result = new Promise<Extract<FitMessage, { type: 'done' }>>((resolve, reject) => {
    let settled = false;
    child.on('message', (m: FitMessage) => {
      if (m.type === 'progress') deps.onProgress({ label: m.label, done: m.done, total: m.total });
      else if (m.type === 'done') {
        settled = true;
        resolve(m);
      } else {
        settled = true;
        reject(new LearningError(m.code ?? 'FIT_FAILED', `the candidate could not be fitted: ${m.message}`, { status: 500 }));
      }
    });
    child.on('error', (err) => {
      if (!settled) reject(new LearningError('FIT_FAILED', `the fitting process failed: ${errorMessage(err)}`, { status: 500, cause: err }));
      settled = true;
    });
    child.on('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      reject(new LearningError('FIT_FAILED', `the fitting process ended (${signal ?? `exit ${code}`}) without a model${tail ? `: ${tail}` : ''}`, { status: 500 }));
    });
  });
  child.send(job);
  return {
    pid: child.pid,
    result,
    cancel: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
