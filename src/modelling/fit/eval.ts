// `visor eval`: scores a labelled folder with a model package exactly as the line would
// (loadModelPackage + createInferencer, one thread) and reports ranking quality, the confusion
// matrix at the model's own threshold, and speed. Optionally writes per-image scores and
// heat-map overlays of the worst misses.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { ModelOutput } from '../../common/types.js';
import { decide } from '../../inference/decision.js';
import { imageFromFile } from '../../inference/image.js';
import { renderOverlay } from '../../inference/overlay.js';
import { loadModelPackage } from '../../inference/package.js';
import { createInferencer } from '../../inference/session.js';
import { FitInputError, forEachImage, readLabelsCsv } from './data.js';
import type { ProgressFactory } from './fit.js';
import { auroc, averagePrecision, recallAtFpr } from './stats.js';

export interface EvalOptions {
  modelDir: string;
  /** Folder with labels.csv (file,label; paths relative to it). */
  dataDir: string;
  /** Optional folder for scores.csv and overlays of the worst misses. */
  outDir?: string;
  /** Overlays per kind of miss (missed defects, false alarms). Default 5. */
  worst?: number;
  threads?: number;
}

export interface EvalDeps {
  log: Logger;
  progress?: ProgressFactory;
}

export interface EvalReport {
  model: { name: string; version: string };
  n: number;
  n_good: number;
  n_defect: number;
  auroc: number;
  ap: number;
  recall_at_fpr_1pct: number;
  recall_at_fpr_5pct: number;
  threshold: number;
  uncertain_band: number;
  /** At the model's threshold: a defect is predicted when score ≥ threshold. */
  confusion: { tp: number; fp: number; tn: number; fn: number };
  accuracy: number;
  /** Verdicts (ok / uncertain / defect) per true label, with the uncertain band. */
  verdicts: { good: Record<string, number>; defect: Record<string, number> };
  /** Mean preprocess + inference + postprocess per image, one onnxruntime thread (decode excluded). */
  ms_per_image: number;
  ignored_rows: number;
  unreadable: string[];
}

export interface ScoredImage {
  file: string;
  label: 'good' | 'defect';
  score: number;
}

export async function evaluateModel(opts: EvalOptions, deps: EvalDeps): Promise<{ report: EvalReport; scored: ScoredImage[] }> {
  const { images, ignored } = await readLabelsCsv(path.join(path.resolve(opts.dataDir), 'labels.csv'));
  if (images.length === 0) throw new FitInputError(`${path.join(opts.dataDir, 'labels.csv')} has no rows labelled good or defect`);
  const pkg = await loadModelPackage(opts.modelDir);
  const inferencer = await createInferencer({ pkg, threads: opts.threads ?? 1, log: deps.log });
  const { manifest, geometry } = inferencer;
  const thresholds = manifest.thresholds;
  const scored: (ScoredImage & { output: ModelOutput })[] = [];
  let ms = 0;
  const bar = (deps.progress ?? (() => ({ tick: () => undefined, stop: () => undefined })))('eval', images.length);
  const labelOf = new Map(images.map((i) => [i.file, i.label]));
  let report0;
  try {
    report0 = await forEachImage(images.map((i) => i.file), async ({ file, image }) => {
      const r = await inferencer.infer(image);
      ms += r.preprocessMs + r.inferenceMs + r.postprocessMs;
      scored.push({ file, label: labelOf.get(file)!, score: r.output.score, output: keepHeat(r.output) });
    }, bar.tick);
  } finally {
    bar.stop();
    await inferencer.close();
  }
  const good = scored.filter((s) => s.label === 'good').map((s) => s.score);
  const defect = scored.filter((s) => s.label === 'defect').map((s) => s.score);
  const t = thresholds.defect;
  const confusion = {
    tp: defect.filter((s) => s >= t).length,
    fp: good.filter((s) => s >= t).length,
    tn: good.filter((s) => s < t).length,
    fn: defect.filter((s) => s < t).length,
  };
  const verdicts = { good: { ok: 0, uncertain: 0, defect: 0 }, defect: { ok: 0, uncertain: 0, defect: 0 } };
  for (const s of scored) verdicts[s.label][decide(s.score, thresholds)] += 1;
  const r4 = (v: number): number => (Number.isFinite(v) ? Math.round(v * 10000) / 10000 : v);
  const report: EvalReport = {
    model: { name: manifest.name, version: manifest.version },
    n: scored.length,
    n_good: good.length,
    n_defect: defect.length,
    auroc: r4(auroc(good, defect)),
    ap: r4(averagePrecision(good, defect)),
    recall_at_fpr_1pct: r4(recallAtFpr(good, defect, 0.01)),
    recall_at_fpr_5pct: r4(recallAtFpr(good, defect, 0.05)),
    threshold: t,
    uncertain_band: thresholds.uncertainBand,
    confusion,
    accuracy: r4((confusion.tp + confusion.tn) / Math.max(1, scored.length)),
    verdicts,
    ms_per_image: Math.round((ms / Math.max(1, scored.length)) * 100) / 100,
    ignored_rows: ignored,
    unreadable: report0.unreadable.map((u) => u.file),
  };

  if (opts.outDir) {
    const out = path.resolve(opts.outDir);
    await mkdir(out, { recursive: true });
    const rel = (f: string): string => path.relative(path.resolve(opts.dataDir), f);
    const csv = ['file,label,score,verdict', ...scored.map((s) => `${rel(s.file)},${s.label},${s.score.toFixed(5)},${decide(s.score, thresholds)}`)];
    await writeFile(path.join(out, 'scores.csv'), `${csv.join('\n')}\n`);
    const worst = opts.worst ?? 5;
    const missed = scored.filter((s) => s.label === 'defect' && s.score < t).sort((a, b) => a.score - b.score).slice(0, worst);
    const alarms = scored.filter((s) => s.label === 'good' && s.score >= t).sort((a, b) => b.score - a.score).slice(0, worst);
    for (const [kind, list] of [['missed-defect', missed], ['false-alarm', alarms]] as const) {
      for (const [i, s] of list.entries()) {
        const jpeg = await renderOverlay(await imageFromFile(s.file), s.output, { threshold: t, geometry });
        await writeFile(path.join(out, `${kind}-${i + 1}-${path.basename(s.file, path.extname(s.file))}.jpg`), jpeg);
      }
    }
  }
  return { report, scored: scored.map(({ file, label, score }) => ({ file, label, score })) };
}

/** Copies the heat map out of onnxruntime's buffers (they are reused between runs). */
function keepHeat(o: ModelOutput): ModelOutput {
  return o.heatMap ? { score: o.score, heatMap: { ...o.heatMap, data: Float32Array.from(o.heatMap.data) } } : { score: o.score };
}
