// The fitting process of a candidate (forked by train.ts at low priority): `visor fit` as it is
// (src/modelling/fit), on the images the parent chose from the store, with progress over IPC.
import { mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../common/log.js';
import { errorMessage } from '../common/errors.js';
import { fitModel, type LabelledImage } from '../modelling/fit/index.js';

export interface FitJob {
  /** Good images (absolute paths). */
  good: string[];
  /** Reviewed images for the supervised refinement. */
  labelled: LabelledImage[];
  outDir: string;
  name: string;
  version: string;
  search: boolean;
  threads: number;
  provenance: Record<string, unknown>;
}

export type FitMessage =
  | { type: 'progress'; label: string; done: number; total: number }
  | { type: 'done'; dir: string; seconds: number; notes: string[]; thresholds: { defect: number; uncertainBand: number } }
  | { type: 'error'; message: string; code?: string };

function send(message: FitMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function run(job: FitJob): Promise<void> {
  // visor fit reads good images from a folder: links to the stored JPEGs, named in order.
  const goodDir = `${job.outDir}.good`;
  await rm(goodDir, { recursive: true, force: true });
  await mkdir(goodDir, { recursive: true });
  try {
    await Promise.all(job.good.map((file, i) => symlink(file, path.join(goodDir, `${String(i).padStart(6, '0')}${path.extname(file)}`))));
    const log = createLogger({ level: 'warn', destination: process.stderr });
    const result = await fitModel(
      {
        goodDir,
        outDir: job.outDir,
        name: job.name,
        version: job.version,
        labelled: job.labelled,
        search: job.search,
        threads: job.threads,
        // Labelled images keep one view anyway (docs/fit.md); so does a frame the camera already brought to the model's size.
        tiling: false,
        provenance: job.provenance,
      },
      {
        log,
        progress: (label, total) => {
          let done = 0;
          void send({ type: 'progress', label, done, total });
          return {
            tick: () => {
              done++;
              void send({ type: 'progress', label, done, total });
            },
            stop: () => undefined,
          };
        },
      },
    );
    await send({ type: 'done', dir: result.dir, seconds: result.seconds, notes: result.notes, thresholds: { defect: result.manifest.thresholds.defect, uncertainBand: result.manifest.thresholds.uncertainBand } });
  } finally {
    await rm(goodDir, { recursive: true, force: true });
  }
}

process.once('message', (job: FitJob) => {
  run(job).then(
    () => process.exit(0),
    async (err: unknown) => {
      await send({ type: 'error', message: errorMessage(err), ...((err as { code?: string }).code ? { code: (err as { code: string }).code } : {}) });
      process.exit(1);
    },
  );
});
