// The fold protocol the fit benchmarks share: stage a fold's images as folders of symlinks (the
// fit sees a plain folder of good images, `visor eval` a folder with labels.csv), fit with
// `visor fit`'s code, measure with `visor eval`'s code, clean up.
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLabels, type DatasetName } from '../datasets/index.js';
import { silentLogger } from '../src/common/log.js';
import { evaluateModel, type EvalReport, type ScoredImage } from '../src/modelling/fit/eval.js';
import { fitModel, type FitDeps, type FitOptions, type FitResult } from '../src/modelling/fit/fit.js';

export interface StagedImage {
  /** Absolute path of the image. */
  path: string;
  label: 'good' | 'defect';
}

/** Symlinks to the images (names made unique by a running number) and, with `withCsv`, a labels.csv. */
export async function stage(dir: string, images: readonly StagedImage[], withCsv: boolean): Promise<Map<string, StagedImage>> {
  await fs.mkdir(dir, { recursive: true });
  const byLink = new Map<string, StagedImage>();
  const rows: string[] = [];
  for (const [i, img] of images.entries()) {
    const name = `${String(i).padStart(5, '0')}-${path.basename(img.path)}`;
    await fs.symlink(img.path, path.join(dir, name));
    byLink.set(path.join(dir, name), img);
    rows.push(`${name},${img.label}`);
  }
  if (withCsv) await fs.writeFile(path.join(dir, 'labels.csv'), `file,label\n${rows.join('\n')}\n`);
  return byLink;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The benchmark sets by their short names (`paper-types`: one model per paper type). */
export const SETS: Record<string, DatasetName> = { elpv: 'elpv-dev', casting: 'casting-dev', paper: 'paper-dev', 'paper-types': 'paper-dev' };

export interface ProductImage extends StagedImage {
  kind: string;
}

/** A set's good and defect images; ELPV's 12 fixture cells (test/fixtures/elpv) and uncertain cells left out. */
export function productImages(set: DatasetName): ProductImage[] {
  const fixtures = set === 'elpv-dev' ? new Set(readdirSync(path.join(repoRoot, 'test/fixtures/elpv')).filter((f) => f.endsWith('.png'))) : new Set<string>();
  return readLabels(set)
    .filter((r) => (r.label === 'good' || r.label === 'defect') && !fixtures.has(path.basename(r.file)))
    .map((r) => ({ path: r.path, label: r.label as 'good' | 'defect', kind: r.kind ?? r.cell_type ?? '' }));
}

export type FoldFitOptions = Omit<FitOptions, 'goodDir' | 'outDir' | 'name' | 'labelled'>;

export interface FoldResult {
  fit: FitResult;
  /** CPU seconds of the fit, all threads (wall seconds are in `fit`; on a shared machine they mostly measure the others). */
  fitCpuSeconds: number;
  /** CPU milliseconds per image of the evaluation (decode and resize included: an upper bound of the graph's cost). */
  evalCpuMsPerImage: number;
  report: EvalReport;
  /** Scored test images, with the staged image each came from. */
  scored: (ScoredImage & { source: StagedImage })[];
  modelMb: number;
}

/**
 * Fits on `good` (plus `labelled` for the supervised head, which may include images of `good`)
 * and evaluates on `test`, in a temporary folder removed afterwards.
 */
export async function fitAndEvaluate(good: readonly StagedImage[], test: readonly StagedImage[], fitOptions: FoldFitOptions, labelled: readonly StagedImage[] = [], fitDeps: Omit<FitDeps, 'log'> = {}): Promise<FoldResult> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'visor-bench-'));
  try {
    const goodLinks = await stage(path.join(tmp, 'good'), good, false);
    const extra = labelled.filter((l) => !good.includes(l));
    const extraLinks = await stage(path.join(tmp, 'labelled'), extra, false);
    const testLinks = await stage(path.join(tmp, 'test'), test, true);
    const linkOf = new Map([...goodLinks, ...extraLinks].map(([link, img]) => [img, link]));
    const cpu0 = process.cpuUsage();
    const fit = await fitModel(
      {
        ...fitOptions,
        goodDir: path.join(tmp, 'good'),
        outDir: path.join(tmp, 'model'),
        name: 'bench',
        labelled: labelled.length > 0 ? labelled.map((l) => ({ file: linkOf.get(l)!, label: l.label })) : undefined,
      },
      { log: silentLogger(), ...fitDeps },
    );
    const cpu = process.cpuUsage(cpu0);
    const cpu1 = process.cpuUsage();
    const { report, scored } = await evaluateModel({ modelDir: path.join(tmp, 'model'), dataDir: path.join(tmp, 'test') }, { log: silentLogger() });
    const evalCpu = process.cpuUsage(cpu1);
    const modelMb = (await fs.stat(path.join(tmp, 'model/model.onnx'))).size / 1e6;
    return { fit, fitCpuSeconds: (cpu.user + cpu.system) / 1e6, evalCpuMsPerImage: (evalCpu.user + evalCpu.system) / 1e3 / Math.max(1, report.n), report, scored: scored.map((s) => ({ ...s, source: testLinks.get(s.file)! })), modelMb };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
export const std = (xs: readonly number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
export const r3 = (v: number): number => Math.round(v * 1000) / 1000;
