// Model packages: a folder with model.json (the manifest) and model.onnx. Everything that can
// be checked without onnxruntime is checked here; the graph itself is checked in session.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { ModelPackageError, errorMessage } from '../common/errors.js';
import { geometryIssues, stretchGeometry, tileCount, type Geometry } from '../common/geometry.js';
import { ManifestSchema, type ModelManifest } from './manifest.js';

export interface ModelPackage {
  /** Absolute path of the package folder. */
  dir: string;
  /** The manifest with schema defaults applied. */
  manifest: ModelManifest;
  onnxPath: string;
}

export const MANIFEST_FILE = 'model.json';
export const ONNX_FILE = 'model.onnx';

/** Labels that are not defects when a manifest does not list `defectLabels`. */
const GOOD_LABELS = new Set(['good', 'ok']);

/** Reads and checks a model package; every disagreement is a ModelPackageError naming both sides. */
export async function loadModelPackage(dir: string): Promise<ModelPackage> {
  const absDir = path.resolve(dir);
  const dirStat = await stat(absDir).catch(() => undefined);
  if (!dirStat) throw new ModelPackageError(`model package folder ${absDir} does not exist`);
  if (!dirStat.isDirectory()) throw new ModelPackageError(`model package ${absDir} is not a folder`);

  const jsonPath = path.join(absDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    throw new ModelPackageError(`model package ${absDir} has no readable ${MANIFEST_FILE} (${errorMessage(err)})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelPackageError(`${jsonPath} is not valid JSON: ${errorMessage(err)}`, { cause: err });
  }

  const manifest = parseManifest(raw, jsonPath);

  const onnxPath = path.join(absDir, ONNX_FILE);
  const onnxStat = await stat(onnxPath).catch(() => undefined);
  if (!onnxStat?.isFile()) throw new ModelPackageError(`model package ${absDir} has no ${ONNX_FILE}`);
  const actual = await sha256File(onnxPath);
  if (actual !== manifest.sha256) {
    throw new ModelPackageError(`${ONNX_FILE} sha256 is ${actual} but ${MANIFEST_FILE} says ${manifest.sha256} (package ${absDir})`);
  }
  return { dir: absDir, manifest, onnxPath };
}

/** Validates a parsed model.json against the schema and the rules the schema cannot express. */
export function parseManifest(raw: unknown, source = MANIFEST_FILE): ModelManifest {
  const withDefaults = Value.Default(ManifestSchema, Value.Clone(raw));
  const issues = schemaIssues(ManifestSchema, withDefaults);
  if (issues.length === 0) issues.push(...consistencyIssues(withDefaults as ModelManifest));
  if (issues.length > 0) {
    throw new ModelPackageError(`${source} is not a valid model manifest:\n  ${issues.join('\n  ')}`);
  }
  return withDefaults as ModelManifest;
}

/** Labels whose probability (or box score) makes the image score. */
export function defectLabelsOf(manifest: ModelManifest): string[] {
  return manifest.defectLabels ?? manifest.labels.filter((l) => !GOOD_LABELS.has(l.toLowerCase()));
}

/** The package's geometry with defaults: stretched to the input size, one tile, when model.json has none. */
export function geometryOf(manifest: ModelManifest): Geometry {
  const input = { width: manifest.input.width, height: manifest.input.height };
  const g = manifest.geometry;
  if (!g) return stretchGeometry(input);
  return { resize: g.resize, frame: g.frame ?? input, tiles: g.tiles ?? { columns: 1, rows: 1 }, ...(g.padValue !== undefined ? { padValue: g.padValue } : {}) };
}

/** Number of planes the graph input has for the manifest's channel order. */
export function channelCount(channels: ModelManifest['input']['channels']): 1 | 3 {
  return channels === 'GRAY' ? 1 : 3;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function schemaIssues(schema: TSchema, value: unknown): string[] {
  const seen = new Set<string>();
  const issues: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    // TypeBox reports a missing property twice ("required" and "expected type"); keep the first.
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    issues.push(`${displayPath(error.path)}: ${describe(error)}`);
  }
  return issues;
}

function displayPath(pointer: string): string {
  return pointer === '' ? '(root)' : pointer.slice(1).replaceAll('/', '.');
}

function describe(error: ValueError): string {
  const anyOf = (error.schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (anyOf && anyOf.every((s) => s.const !== undefined)) {
    return `must be one of ${anyOf.map((s) => JSON.stringify(s.const)).join(', ')} (got ${JSON.stringify(error.value)})`;
  }
  return error.message;
}

function consistencyIssues(m: ModelManifest): string[] {
  const issues: string[] = [];
  const planes = channelCount(m.input.channels);
  for (const key of ['mean', 'std'] as const) {
    const n = m.input[key].length;
    if (n !== 1 && n !== planes) {
      issues.push(`input.${key}: has ${n} values but channels "${m.input.channels}" has ${planes} (give ${planes === 1 ? '1 value' : '1 or 3 values'})`);
    }
  }
  const geometry = geometryOf(m);
  issues.push(...geometryIssues(geometry, m.input));
  if (tileCount(geometry) > 1 && m.task !== 'anomaly') issues.push(`geometry.tiles: only anomaly models can be tiled (this one is ${m.task})`);
  switch (m.task) {
    case 'anomaly':
      if (!m.outputs.score && !m.outputs.heatmap) issues.push('outputs: an anomaly model needs outputs.score and/or outputs.heatmap');
      break;
    case 'classification':
      if (!m.outputs.logits) issues.push('outputs.logits: a classification model needs outputs.logits');
      if (m.labels.length < 2) issues.push(`labels: a classification model needs at least 2 labels (got ${m.labels.length})`);
      break;
    case 'detection':
      if (!m.outputs.detections) issues.push('outputs.detections: a detection model needs outputs.detections');
      if (m.detection?.format === 'boxes-labels' && !m.outputs.classes) issues.push('outputs.classes: detection.format "boxes-labels" needs the class-id output');
      if (m.labels.length < 1) issues.push('labels: a detection model needs at least 1 label');
      break;
  }
  const unknown = (m.defectLabels ?? []).filter((l) => !m.labels.includes(l));
  if (unknown.length > 0) issues.push(`defectLabels: ${unknown.map((l) => JSON.stringify(l)).join(', ')} not in labels`);
  if (new Set(m.labels).size !== m.labels.length) issues.push('labels: contains duplicates');
  return issues;
}
