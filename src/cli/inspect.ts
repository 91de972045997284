// `visor inspect`: score image files and folders with a model package, as the line would.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../common/log.js';
import { csvRow } from '../common/csv.js';
import { errorMessage } from '../common/errors.js';
import type { ModelOutput } from '../common/types.js';
import { UsageError } from './exit.js';

export interface InspectOptions {
  model: string;
  threads: number;
  out?: string;
}

export const INSPECT_CSV = 'inspect.csv';
export const INSPECT_COLUMNS = ['path', 'verdict', 'score', 'label', 'threshold', 'ms', 'overlay', 'error'] as const;

interface Target {
  file: string;
  /** Where its overlay goes under --out: the path below the folder given (with the folder's name), or the file's name. */
  name: string;
}

/** Image files of every argument: a file as given, a folder's images at any depth, sorted by path. */
async function targets(args: readonly string[]): Promise<Target[]> {
  const { IMAGE_EXTENSIONS } = await import('../modelling/fit/data.js');
  const found: Target[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full, path.join(prefix, e.name));
      else if (IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())) found.push({ file: full, name: path.join(prefix, e.name) });
    }
  };
  for (const arg of args) {
    const st = await stat(arg).catch(() => undefined);
    if (!st) throw new UsageError(`${arg}: no such file or folder`);
    if (st.isDirectory()) await walk(arg, path.basename(path.resolve(arg)));
    else found.push({ file: arg, name: path.basename(arg) });
  }
  if (found.length === 0) throw new UsageError(`no image files (${[...IMAGE_EXTENSIONS].join(', ')}) in ${args.join(', ')}`);
  return found;
}

/** The top class or box label, for models that name what they found. */
function topLabel(output: ModelOutput): string {
  const ranked = [...(output.classes ?? []), ...(output.boxes ?? [])].sort((a, b) => b.score - a.score);
  return ranked[0]?.label ?? '';
}

export async function inspectCommand(images: string[], options: InspectOptions): Promise<void> {
  const files = await targets(images);
  // Loaded on use, like every command's heavy parts, so `visor --help` starts fast.
  const { createInferencer, decide, imageFromFile, loadModelPackage, renderOverlay } = await import('../inference/index.js');
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const inferencer = await createInferencer({ pkg: await loadModelPackage(path.resolve(options.model)), threads: options.threads, log });
  const { manifest, geometry } = inferencer;
  const { thresholds } = manifest;
  const out = options.out === undefined ? undefined : path.resolve(options.out);
  if (out) await mkdir(out, { recursive: true });
  const csv = [csvRow(INSPECT_COLUMNS)];
  const overlayNames = new Set<string>();
  let failed = 0;
  try {
    for (const { file, name } of files) {
      try {
        const image = await imageFromFile(file);
        const result = await inferencer.infer(image);
        const verdict = decide(result.output.score, thresholds);
        const ms = result.preprocessMs + result.inferenceMs + result.postprocessMs;
        let overlay: string | undefined;
        if (out) {
          overlay = path.join('overlays', name.replace(/\.[^./\\]+$/, '.jpg'));
          // Two arguments may hold files of the same name: number the later ones.
          for (let n = 2; overlayNames.has(overlay); n++) overlay = path.join('overlays', name.replace(/\.[^./\\]+$/, `-${n}.jpg`));
          overlayNames.add(overlay);
          const jpeg = await renderOverlay(image, result.output, { geometry, threshold: thresholds.defect });
          await mkdir(path.dirname(path.join(out, overlay)), { recursive: true });
          await writeFile(path.join(out, overlay), jpeg);
        }
        csv.push(csvRow([file, verdict, result.output.score, topLabel(result.output), thresholds.defect, ms.toFixed(1), overlay, '']));
        const line = {
          file,
          verdict,
          score: result.output.score,
          classes: result.output.classes,
          boxes: result.output.boxes,
          model: { name: manifest.name, version: manifest.version },
          thresholds: { defect: thresholds.defect, uncertainBand: thresholds.uncertainBand },
          timings: { preprocessMs: result.preprocessMs, inferenceMs: result.inferenceMs, postprocessMs: result.postprocessMs },
          ...(overlay ? { overlay } : {}),
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      } catch (err) {
        failed++;
        csv.push(csvRow([file, '', '', '', thresholds.defect, '', '', errorMessage(err)]));
        process.stdout.write(`${JSON.stringify({ file, error: errorMessage(err) })}\n`);
      }
    }
  } finally {
    await inferencer.close();
    if (out) await writeFile(path.join(out, INSPECT_CSV), `${csv.join('\n')}\n`);
  }
  if (failed > 0) process.exitCode = 1;
}
