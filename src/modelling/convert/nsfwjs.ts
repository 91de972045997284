// The TensorFlow.js models bundled in the npm package `nsfwjs` (MIT). They ship as browserified
// CommonJS modules: model.min.js exports the model.json object, each shard module exports the
// shard's bytes as base64. Build-time only: nsfwjs is a devDependency.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConvertError } from './errors.js';
import type { TfjsArtifacts, WeightGroup } from './tfjs.js';

export type NsfwjsModelName = 'mobilenet_v2' | 'mobilenet_v2_mid' | 'inception_v3';

/** nsfwjs' dist folder, found through Node's resolver (the package exports only its entry points). */
export function nsfwjsDistDir(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('nsfwjs');
  } catch (err) {
    throw new ConvertError('npm package nsfwjs is not installed (it is a devDependency: npm install --include=dev)', { cause: err });
  }
  // …/nsfwjs/dist/cjs/index.js → …/nsfwjs/dist
  return path.resolve(path.dirname(entry), '..');
}

export function nsfwjsVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(nsfwjsDistDir(), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Loads one bundled model with its weight shards concatenated. */
export function readNsfwjsModel(name: NsfwjsModelName): TfjsArtifacts {
  const dir = path.join(nsfwjsDistDir(), 'models', name);
  const require = createRequire(path.join(dir, 'index.js'));
  const modelFile = path.join(dir, 'model.min.js');
  if (!existsSync(modelFile)) throw new ConvertError(`nsfwjs model ${name} not found at ${modelFile}`);
  const json = require(modelFile) as { modelTopology?: unknown; weightsManifest?: WeightGroup[] };
  if (json.modelTopology === undefined || !Array.isArray(json.weightsManifest)) {
    throw new ConvertError(`${modelFile} does not export a tfjs layers model`);
  }
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const file = path.join(dir, `${p}.min.js`);
      if (!existsSync(file)) throw new ConvertError(`weight shard ${p} of nsfwjs model ${name} is missing (${file})`);
      const b64 = require(file) as unknown;
      if (typeof b64 !== 'string') throw new ConvertError(`weight shard ${file} does not export base64 data`);
      parts.push(Buffer.from(b64, 'base64'));
    }
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: Buffer.concat(parts),
    source: modelFile,
  };
}
