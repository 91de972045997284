// Finds a feature backbone for `visor fit`: a built-in one by name (models/backbones/<name>/),
// a folder with backbone.json + backbone.onnx, or any ONNX CNN file (its intermediate tensors
// are cut out by name; channels and grid sizes are measured by running it, not trusted).
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { ModelPackageError, errorMessage } from '../../common/errors.js';
import { SCALINGS, type ScalingName } from '../fit/defaults.js';
import { decodeModel, graphOf } from '../fit/onnx-graph.js';
import { BackboneManifestSchema, type BackboneManifest } from './manifest.js';

export type BackboneLayer = BackboneManifest['layers'][number];

/** <repo>/models/backbones, found from this file (src/… and dist/… are both two levels below the root). */
export const BUILTIN_BACKBONES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..', 'models/backbones');
export const BACKBONE_JSON = 'backbone.json';
export const BACKBONE_ONNX = 'backbone.onnx';

export type BackboneInput = BackboneManifest['input'];


export interface Backbone {
  name: string;
  /** Where it came from: a built-in name, a folder or an .onnx path (for provenance and messages). */
  origin: string;
  onnx: Uint8Array;
  sha256: string;
  input: BackboneInput;
  /** Layers the manifest describes (empty for a bare ONNX file). */
  layers: BackboneLayer[];
  defaultLayers: string[];
  provenance: Record<string, unknown>;
}

export interface ResolveBackboneOptions {
  /** Folder of built-in backbones (default: BUILTIN_BACKBONES_DIR). */
  builtinDir?: string;
}

/** NAME (built-in), a folder with backbone.json, or an .onnx file. */
export async function resolveBackbone(nameOrPath: string, opts: ResolveBackboneOptions = {}): Promise<Backbone> {
  const builtinDir = opts.builtinDir ?? BUILTIN_BACKBONES_DIR;
  const looksLikeName = /^[a-z0-9][a-z0-9._-]*$/.test(nameOrPath) && !nameOrPath.endsWith('.onnx');
  if (looksLikeName) {
    const dir = path.join(builtinDir, nameOrPath);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return loadBackboneFolder(dir, nameOrPath);
    if (!(await stat(nameOrPath).catch(() => undefined))) {
      const known = await readdir(builtinDir).catch(() => [] as string[]);
      throw new ModelPackageError(
        `unknown backbone "${nameOrPath}": not a built-in backbone (built in: ${known.join(', ') || 'none'}) and not a path to a folder or .onnx file`,
      );
    }
  }
  const abs = path.resolve(nameOrPath);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new ModelPackageError(`backbone ${abs} does not exist`);
  if (st.isDirectory()) return loadBackboneFolder(abs, abs);
  return loadBackboneFile(abs);
}

async function loadBackboneFolder(dir: string, origin: string): Promise<Backbone> {
  const jsonPath = path.join(dir, BACKBONE_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (err) {
    throw new ModelPackageError(`backbone folder ${dir} has no readable ${BACKBONE_JSON} (${errorMessage(err)})`, { cause: err });
  }
  if (!Value.Check(BackboneManifestSchema, raw)) {
    const issues = [...Value.Errors(BackboneManifestSchema, raw)].map((e) => `${e.path || '(root)'}: ${e.message}`);
    throw new ModelPackageError(`${jsonPath} is not a valid backbone manifest:\n  ${issues.join('\n  ')}`);
  }
  const manifest = raw;
  const onnxPath = path.join(dir, BACKBONE_ONNX);
  const onnx = await readFile(onnxPath).catch((err: unknown) => {
    throw new ModelPackageError(`backbone folder ${dir} has no readable ${BACKBONE_ONNX} (${errorMessage(err)})`, { cause: err });
  });
  const sha256 = sha256Of(onnx);
  if (sha256 !== manifest.sha256) {
    throw new ModelPackageError(`${BACKBONE_ONNX} sha256 is ${sha256} but ${BACKBONE_JSON} says ${manifest.sha256} (backbone ${dir})`);
  }
  return {
    name: manifest.name,
    origin,
    onnx,
    sha256,
    input: manifest.input,
    layers: manifest.layers,
    defaultLayers: manifest.defaultLayers,
    provenance: manifest.provenance,
  };
}

/** A bare ONNX CNN: input from the graph, ImageNet scaling unless overridden, layers from --layers. */
async function loadBackboneFile(file: string): Promise<Backbone> {
  const onnx = await readFile(file).catch((err: unknown) => {
    throw new ModelPackageError(`cannot read backbone ${file}: ${errorMessage(err)}`, { cause: err });
  });
  const model = decodeModel(onnx, file);
  const graph = graphOf(model);
  const inits = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((i) => !inits.has(i.name));
  if (inputs.length !== 1) {
    throw new ModelPackageError(`backbone ${file} has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); a backbone needs exactly one image input`);
  }
  const input = inputs[0]!;
  const dims = input.type?.tensorType?.shape?.dim ?? [];
  const planes = dims[1]?.dimValue != null ? Number(dims[1].dimValue) : 3;
  if (planes !== 1 && planes !== 3) throw new ModelPackageError(`backbone ${file}: input "${input.name}" has ${planes} channels; 1 or 3 are supported`);
  const side = dims[2]?.dimValue != null ? Number(dims[2].dimValue) : 224;
  const base = path.basename(file, '.onnx').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'backbone';
  return {
    name: base,
    origin: file,
    onnx,
    sha256: sha256Of(onnx),
    input: { name: input.name!, size: side, channels: planes === 1 ? 'GRAY' : 'RGB', ...cloneScaling('imagenet', planes) },
    layers: [],
    defaultLayers: [],
    provenance: { source: path.basename(file), note: 'ONNX file given on the command line; its licence is the user’s to check' },
  };
}

export { SCALINGS, type ScalingName };

export function cloneScaling(name: ScalingName, planes: 1 | 3): Pick<BackboneInput, 'scale' | 'mean' | 'std'> {
  const s = SCALINGS[name];
  const pick = (xs: readonly number[]): number[] => (planes === 1 ? [xs[0]!] : [...xs]);
  return { scale: s.scale, mean: pick(s.mean), std: pick(s.std) };
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

