// `visor model check`: a package validated, run on a few images, and the usual mistakes of a
// hand-made or imported manifest flagged: channel order, 0-1 vs 0-255 scaling, layout, scores
// that never reach the threshold, NaN. Conventions are compared with what the exporter recorded
// (import.ts), so a wrong scaling is named even when the images cannot show it.
import { readFile } from 'node:fs/promises';
import { frameBoxToImage } from '../common/geometry.js';
import { ModelPackageError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Box, ClassScore, RawImage, Verdict } from '../common/types.js';
import { decide } from './decision.js';
import { imageFromFile } from './image.js';
import { decodeModel, graphInfo, inferFromExport, readSidecars, EXPORT_FAMILIES, type ExportFamily } from './import.js';
import { thresholdBounds, type ModelManifest } from './manifest.js';
import { geometryOf, loadModelPackage, type ModelPackage } from './package.js';
import type { OutputTensors } from './postprocess.js';
import { createInferencer } from './session.js';

export interface CheckFinding {
  /** error: the package would score wrongly or not at all; warning: worth a look. */
  level: 'error' | 'warning';
  message: string;
}

export interface CheckedImage {
  source: string;
  verdict: Verdict;
  score: number;
  classes?: ClassScore[];
  /** In the image's own pixels (the letterbox or crop undone). */
  boxes?: Box[];
}

export interface OutputRange {
  name: string;
  dims: readonly number[];
  min: number;
  max: number;
  nan: number;
}

export interface CheckReport {
  manifest: ModelManifest;
  images: CheckedImage[];
  outputs: OutputRange[];
  findings: CheckFinding[];
}

export interface CheckDeps {
  log: Logger;
  threads?: number;
}

/** Three images that differ in brightness, colour and texture, for when no images are given. */
export function probeImages(): { source: string; image: RawImage }[] {
  const make = (w: number, h: number, px: (x: number, y: number) => [number, number, number]): RawImage => {
    const data = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(px(x, y), (y * w + x) * 3);
    return { width: w, height: h, pixelFormat: 'rgb24', data };
  };
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
  return [
    { source: '(probe: mid gray)', image: make(320, 240, () => [128, 128, 128]) },
    { source: '(probe: gradient with a red square)', image: make(320, 240, (x, y) => (x > 120 && x < 200 && y > 80 && y < 160 ? [220, 30, 30] : [x * 0.8, y, 255 - x * 0.8])) },
    { source: '(probe: noise)', image: make(320, 240, () => [rnd(), rnd(), rnd()]) },
  ];
}

/** Loads, runs and judges a package; a package that cannot load throws ModelPackageError. */
export async function checkModelPackage(dir: string, imageFiles: readonly string[], deps: CheckDeps): Promise<CheckReport> {
  const pkg = await loadModelPackage(dir);
  const findings: CheckFinding[] = await conventionFindings(pkg);
  const { manifest } = pkg;
  const inferencer = await createInferencer({ pkg, log: deps.log, keepOutputs: true, ...(deps.threads ? { threads: deps.threads } : {}) }).catch((err: unknown) => {
    if (err instanceof ModelPackageError && findings.length > 0) {
      throw new ModelPackageError(`${err.message}\n  ${findings.map((f) => f.message).join('\n  ')}`, { cause: err });
    }
    throw err;
  });
  const images: CheckedImage[] = [];
  const ranges = new Map<string, OutputRange>();
  const rawByImage: OutputTensors[] = [];
  const geometry = geometryOf(manifest);
  try {
    const inputs = imageFiles.length > 0 ? imageFiles.map((file) => ({ source: file, load: () => imageFromFile(file) })) : probeImages().map((p) => ({ source: p.source, load: async () => p.image }));
    for (const { source, load } of inputs) {
      let image: RawImage;
      try {
        image = await load();
      } catch (err) {
        findings.push({ level: 'error', message: `${source}: ${errorMessage(err)}` });
        continue;
      }
      const result = await inferencer.infer(image);
      const out = result.output;
      const checked: CheckedImage = { source, verdict: decide(out.score, manifest.thresholds), score: out.score };
      if (out.classes) checked.classes = out.classes.slice(0, 3);
      if (out.boxes) checked.boxes = out.boxes.map((b) => frameBoxToImage(b, image, geometry.resize, geometry.frame));
      images.push(checked);
      rawByImage.push(result.outputs ?? {});
      for (const [name, t] of Object.entries(result.outputs ?? {})) {
        const r = ranges.get(name) ?? { name, dims: t.dims, min: Infinity, max: -Infinity, nan: 0 };
        for (let i = 0; i < t.data.length; i++) {
          const v = Number(t.data[i]);
          if (Number.isNaN(v)) r.nan++;
          else {
            if (v < r.min) r.min = v;
            if (v > r.max) r.max = v;
          }
        }
        ranges.set(name, r);
      }
    }
  } finally {
    await inferencer.close();
  }
  findings.push(...runFindings(manifest, images, [...ranges.values()], rawByImage, imageFiles.length > 0));
  return { manifest, images, outputs: [...ranges.values()], findings };
}

/** What the export's own conventions say, field by field, against model.json. */
async function conventionFindings(pkg: ModelPackage): Promise<CheckFinding[]> {
  const m = pkg.manifest;
  const exporter = m.provenance?.exporter;
  const g = graphInfo(decodeModel(await readFile(pkg.onnxPath)));
  const family = typeof exporter === 'string' && (EXPORT_FAMILIES as readonly string[]).includes(exporter) ? (exporter as ExportFamily) : undefined;
  let expected;
  try {
    expected = inferFromExport(g, await readSidecars(pkg.onnxPath), { ...(family ? { from: family } : {}), size: { width: m.input.width, height: m.input.height } });
  } catch {
    return []; // the export's marks are not readable (a hand-made graph): nothing to compare with
  }
  if (expected.family === 'generic') return [];
  const findings: CheckFinding[] = [];
  const who = { anomalib: 'anomalib', yolo: 'Ultralytics', customvision: 'Custom Vision', geti: 'Geti', generic: '' }[expected.family];
  const e = expected.draft;
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const flag = (field: string, have: unknown, want: unknown, what: string) =>
    findings.push({ level: 'error', message: `${field} is ${JSON.stringify(have)} but the ${who} export ${what} (${field} ${JSON.stringify(want)})` });
  if (e.input.channels && e.input.channels !== m.input.channels) flag('input.channels', m.input.channels, e.input.channels, `takes ${e.input.channels} (channel order swapped)`);
  if (e.input.scale !== undefined && Math.abs(e.input.scale - m.input.scale) > 1e-9) {
    flag('input.scale', m.input.scale, e.input.scale, `takes ${e.input.scale === 1 ? '0-255' : '0-1'} input`);
  }
  if (e.input.mean && differs(e.input.mean, m.input.mean)) flag('input.mean', m.input.mean, e.input.mean, 'normalises so');
  if (e.input.std && differs(e.input.std, m.input.std)) flag('input.std', m.input.std, e.input.std, 'normalises so');
  const g0 = geometryOf(m);
  if (e.geometry && e.geometry.resize !== g0.resize) flag('geometry.resize', g0.resize, e.geometry.resize, 'was trained on images brought to size so');
  if (e.geometry?.padValue !== undefined && e.geometry.padValue !== (g0.padValue ?? 0)) flag('geometry.padValue', g0.padValue ?? 0, e.geometry.padValue, 'pads with that gray');
  if (e.detection?.format && e.detection.format !== (m.detection?.format ?? 'yolov8')) flag('detection.format', m.detection?.format ?? 'yolov8', e.detection.format, 'has that output layout');
  if (e.labels && differs(e.labels, m.labels)) flag('labels', m.labels, e.labels, 'names its classes so, in this order');
  if (e.softmax !== undefined && e.softmax !== (m.softmax ?? true)) flag('softmax', m.softmax ?? true, e.softmax, e.softmax ? 'outputs logits' : 'outputs probabilities already');
  if (e.anomaly?.normalization && differs(e.anomaly.normalization, m.anomaly?.normalization)) flag('anomaly.normalization', m.anomaly?.normalization ?? null, e.anomaly.normalization, 'normalises raw scores with metadata.json');
  return findings;
}

function runFindings(m: ModelManifest, images: readonly CheckedImage[], outputs: readonly OutputRange[], raw: readonly OutputTensors[], realImages: boolean): CheckFinding[] {
  const findings: CheckFinding[] = [];
  for (const o of outputs) if (o.nan > 0) findings.push({ level: 'error', message: `output "${o.name}" has ${o.nan} NaN values: the graph or its input scaling is broken` });
  if (images.length >= 2) {
    const same = raw.every((r) => Object.entries(r).every(([name, t]) => sameData(t.data, raw[0]![name]?.data)));
    if (same) findings.push({ level: 'error', message: `the outputs are identical for ${images.length} different images: the model does not see them (input scaling or layout?)` });
  }
  if (m.task === 'classification' && m.softmax === false) {
    const name = m.outputs.logits!;
    const bad = raw.some((r) => {
      const d = r[name]?.data;
      if (!d) return false;
      let sum = 0;
      for (let i = 0; i < d.length; i++) {
        const v = Number(d[i]);
        if (v < -1e-6 || v > 1 + 1e-6) return true;
        sum += v;
      }
      return Math.abs(sum - 1) > 0.02;
    });
    if (bad) findings.push({ level: 'error', message: `softmax is false but output "${name}" is not probabilities (outside 0..1 or not summing to 1): set softmax true` });
  }
  const bounds = thresholdBounds(m);
  const t = m.thresholds;
  if (bounds.scoreRange && (t.defect < bounds.scoreRange.min || t.defect > bounds.scoreRange.max)) {
    findings.push({ level: 'error', message: `thresholds.defect ${t.defect} lies outside the score range ${bounds.scoreRange.min}..${bounds.scoreRange.max}: no score can reach it` });
  }
  const scores = images.map((i) => i.score).filter((s) => !Number.isNaN(s));
  if (realImages && scores.length > 0) {
    const max = Math.max(...scores);
    const min = Math.min(...scores);
    if (max < t.defect - t.uncertainBand) findings.push({ level: 'warning', message: `no image reached the uncertain band: scores ${fmt(min)}..${fmt(max)}, thresholds.defect ${t.defect} (right for good images only; otherwise the threshold is off the score scale)` });
    if (min >= t.defect) findings.push({ level: 'warning', message: `every image is a defect: scores ${fmt(min)}..${fmt(max)}, thresholds.defect ${t.defect} (right for defect images only; otherwise check scaling and channel order)` });
  }
  return findings;
}

function sameData(a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Number(a[i]) !== Number(b[i])) return false;
  return true;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
