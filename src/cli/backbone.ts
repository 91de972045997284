// `visor backbone convert`: a TensorFlow.js layers model (Keras) → a backbone folder
// (backbone.onnx + backbone.json) that `visor fit --backbone DIR` can use.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { Value } from '@sinclair/typebox/value';
import { ConfigError, errorMessage } from '../common/errors.js';
import { BackboneManifestSchema, type BackboneManifest } from '../modelling/backbones/manifest.js';
import { integer } from './args.js';
import { reportFailure } from './exit.js';

/** Named input scalings: pixel p → (p * scale - mean) / std. */
export const SCALINGS = {
  /** Keras MobileNet / Inception / Xception convention: x/127.5 − 1. */
  tf: { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  unit: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
} as const;

export interface BackboneConvertOptions {
  tfjs: string;
  out: string;
  layers: string;
  inputSize?: number;
  scaling: keyof typeof SCALINGS;
  channels: 'RGB' | 'BGR';
  name?: string;
  weights: 'float32' | 'uint8';
}

async function loadConverter() {
  try {
    const convert = await import('../modelling/convert/index.js');
    const { sha256 } = await import('../modelling/convert/builtin.js');
    return { ...convert, sha256 };
  } catch (err) {
    throw new Error(`the converter needs the development dependency onnx-proto (npm install --include=dev): ${errorMessage(err)}`, { cause: err });
  }
}

export async function backboneConvertCommand(options: BackboneConvertOptions): Promise<void> {
  try {
    const layers = options.layers
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (layers.length === 0) throw new ConfigError(['--layers: give one or more Keras layer names, comma-separated']);
    const name = (options.name ?? path.basename(path.resolve(options.out))).toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
    // Loaded here, not at start-up: the converter needs onnx-proto, a build-time (dev) dependency.
    const { convertLayersModel, readTfjsModelDir, sha256 } = await loadConverter();
    const art = await readTfjsModelDir(path.resolve(options.tfjs));
    const result = convertLayersModel(art, {
      outputs: layers,
      ...(options.inputSize === undefined ? {} : { inputSize: options.inputSize }),
      weightStorage: options.weights,
      graphName: name,
    });
    const manifest: BackboneManifest = {
      name,
      input: {
        name: result.inputName,
        size: result.inputSize,
        channels: options.channels,
        scale: SCALINGS[options.scaling].scale,
        mean: [...SCALINGS[options.scaling].mean],
        std: [...SCALINGS[options.scaling].std],
      },
      layers: result.outputs.map((o) => ({ name: o.name, channels: o.channels, stride: o.stride })),
      defaultLayers: layers,
      provenance: { source: path.basename(path.resolve(options.tfjs)), conversion: 'visor backbone convert (TensorFlow.js layers → ONNX)', scaling: options.scaling },
      sha256: sha256(result.onnx),
    };
    const errors = [...Value.Errors(BackboneManifestSchema, manifest)].map((e) => `${e.path}: ${e.message}`);
    if (errors.length > 0) throw new ConfigError(errors, 'backbone.json');
    const out = path.resolve(options.out);
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'backbone.onnx'), result.onnx);
    await writeFile(path.join(out, 'backbone.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const summary = manifest.layers.map((l) => `${l.name} (${l.channels} ch, /${l.stride})`).join(', ');
    process.stdout.write(`${out}: ${(result.onnx.byteLength / 1e6).toFixed(2)} MB, ${result.layers.length} layers converted; outputs ${summary}\n`);
  } catch (err) {
    reportFailure('visor backbone convert', err);
  }
}

/** Adds `visor backbone convert`. */
export function registerBackboneCommands(program: Command): void {
  const backbone = program.command('backbone').description('Feature backbones for `visor fit`');
  backbone
    .command('convert')
    .description('Convert a TensorFlow.js layers model (model.json + weight shards) into a backbone folder (backbone.onnx + backbone.json)')
    .requiredOption('--tfjs <dir>', 'folder with model.json and its weight shards')
    .requiredOption('--out <dir>', 'backbone folder to write')
    .requiredOption('--layers <names>', 'Keras layer names to expose as feature maps, comma-separated (also the default layers)')
    .option('--input-size <n>', 'square input side (default: the model input size)', integer())
    .addOption(new Option('--scaling <name>', 'input scaling: tf = x/127.5-1, unit = x/255, imagenet = ImageNet mean/std').choices(Object.keys(SCALINGS)).default('tf'))
    .addOption(new Option('--channels <order>', 'channel order the model expects').choices(['RGB', 'BGR']).default('RGB'))
    .option('--name <name>', 'backbone name (default: the output folder name)')
    .addOption(new Option('--weights <storage>', 'uint8 keeps uint8-quantised kernels compact in the graph').choices(['float32', 'uint8']).default('float32'))
    .action(backboneConvertCommand);
}
