// Bare session.run of feature candidates on one thread, interleaved in one run so that the ratios
// to the default (MobileNetV2 block 3+4+6 at 256 px, the first row) hold on a shared machine
// whose absolute figures move with its load. Each candidate is the feature graph `visor fit`
// builds (the backbone cut at the layers, merged onto the grid); `--models DIR,…` also times
// fitted packages' whole model.onnx (backbones, heads and calibration) on their own input.
//   npx tsx bench/feature-speed.ts [--runs 30] [--models models/a,models/b]
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { resolveBackbone } from '../src/modelling/backbones/load.js';
import { buildFeatureGraph, sessionOptions } from '../src/modelling/fit/features.js';
import { encodeModel } from '../src/modelling/fit/onnx-graph.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '30' }, models: { type: 'string' } } });
const CANDIDATES: [backbone: string, layers: string, inputSize: number][] = [
  ['mobilenet_v2', 'block_3_expand_relu,block_4_expand_relu,block_6_expand_relu', 256],
  ['mobilenet_v2', 'block_3_expand_relu,block_4_expand_relu,block_6_expand_relu', 320],
  ['mobilenet_v2', 'block_3_expand_relu,block_4_expand_relu,block_6_expand_relu,block_13_expand_relu', 256],
  ['pplcnet', 'p2o.Add.43,p2o.Add.71,p2o.Add.147', 256],
  ['inception_v3', 'mixed2,mixed5', 299],
  ['inception_v3', 'mixed2,mixed5', 256],
  ['inception_v3', 'mixed2,mixed5', 224],
  ['inception_v3', 'mixed2,mixed4', 299],
  ['inception_v3', 'mixed2,mixed4', 256],
  ['inception_v3', 'mixed2', 224],
];

interface Timed {
  name: string;
  session: ort.InferenceSession;
  feed: Record<string, ort.Tensor>;
  ms: number[];
}
const input = (name: string, size: number): Record<string, ort.Tensor> => ({ [name]: new ort.Tensor('float32', Float32Array.from({ length: 3 * size * size }, (_, i) => ((i * 7919) % 255) / 127.5 - 1), [1, 3, size, size]) });
const timed: Timed[] = [];
for (const [name, layers, inputSize] of CANDIDATES) {
  const backbone = await resolveBackbone(name);
  const { model, layout } = await buildFeatureGraph({ backbone, layers: layers.split(','), inputSize, input: backbone.input });
  const session = await ort.InferenceSession.create(encodeModel(model), sessionOptions(1));
  timed.push({ name: `${name} ${layers} ${inputSize} px (${layout.channels} ch, ${layout.height}×${layout.width})`, session, feed: input(backbone.input.name, inputSize), ms: [] });
}
for (const dir of args.models?.split(',') ?? []) {
  const manifest = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as { input: { name: string; width: number } };
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), sessionOptions(1));
  timed.push({ name: `model ${path.basename(dir)} (whole graph)`, session, feed: input(manifest.input.name, manifest.input.width), ms: [] });
}
for (const t of timed) for (let i = 0; i < 3; i++) await t.session.run(t.feed);
for (let r = 0; r < Number(args.runs); r++) {
  for (const t of timed) {
    const t0 = performance.now();
    await t.session.run(t.feed);
    t.ms.push(performance.now() - t0);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(timed[0]!.ms);
console.log(`onnxruntime-node ${ort.env.versions.common}, 1 thread, ${args.runs} interleaved runs; ratio = median / the first row's median`);
console.log('| candidate | median ms | min ms | ratio |\n| --- | --- | --- | --- |');
for (const t of timed) console.log(`| ${t.name} | ${median(t.ms).toFixed(1)} | ${Math.min(...t.ms).toFixed(1)} | ${(median(t.ms) / base).toFixed(2)} |`);
for (const t of timed) await t.session.release();
