// Feature extraction per backbone with onnxruntime-node on one thread (intraOpNumThreads 1),
// against the research note's tfjs WASM figures. Real ELPV fixture cells, preprocessed once
// (resize + scaling per backbone.json); the timing is session.run only.
//   npx tsx bench/backbones.ts [--runs 40] [--layers default|all]
// For the built-in backbones it also times a graph cut at the default layers only: onnxruntime
// runs every node of a graph whatever outputs are fetched, so extra offered layers cost time.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { BackboneManifest } from '../src/modelling/backbones/manifest.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(REPO, 'test/fixtures/elpv');
const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : fallback);
const RUNS = Number(arg('--runs', '40'));
const ALL_LAYERS = arg('--layers', 'default') === 'all';

/** The shared research note anomaly-heads-on-elpv.md: tfjs WASM backend, one core. */
const TFJS_WASM: Record<string, string> = {
  mobilenet_v2: '46 ms (to block_6, 256 px)',
  inception_v3: '187 ms to mixed2, 293 ms to mixed5 (299 px)',
  pplcnet: '14.7 ms (research: onnxruntime, 4 layers, 256 px)',
};

async function inputs(m: BackboneManifest): Promise<Float32Array[]> {
  const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.png')).sort().slice(0, 8);
  const s = m.input.size;
  const out: Float32Array[] = [];
  for (const f of files) {
    const { data } = await sharp(path.join(FIXTURES, f)).resize(s, s).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const x = new Float32Array(3 * s * s);
    for (let p = 0; p < s * s; p++) {
      for (let c = 0; c < 3; c++) {
        const src = m.input.channels === 'BGR' ? 2 - c : c;
        x[c * s * s + p] = (data[p * 3 + src]! * m.input.scale - m.input.mean[c % m.input.mean.length]!) / m.input.std[c % m.input.std.length]!;
      }
    }
    out.push(x);
  }
  return out;
}

async function time(model: string | Uint8Array, m: BackboneManifest, fetches: string[], xs: Float32Array[]): Promise<{ median: number; mean: number }> {
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] })
      : await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  const s = m.input.size;
  const feed = (x: Float32Array) => ({ [m.input.name]: new ort.Tensor('float32', x, [1, 3, s, s]) });
  for (let i = 0; i < 3; i++) await session.run(feed(xs[i % xs.length]!), fetches);
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await session.run(feed(xs[i % xs.length]!), fetches);
    ms.push(performance.now() - t);
  }
  await session.release();
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

const dir = path.join(REPO, 'models/backbones');
const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
console.log(`feature extraction, onnxruntime-node ${ort.env.versions.common}, 1 thread, ${RUNS} runs over ELPV fixture cells`);
console.log('backbone       size  layers fetched                                               graph                 median ms  mean ms  | research (tfjs WASM)');
for (const name of names) {
  const m = JSON.parse(await readFile(path.join(dir, name, 'backbone.json'), 'utf8')) as BackboneManifest;
  const xs = await inputs(m);
  const fetches = ALL_LAYERS ? m.layers.map((l) => l.name) : m.defaultLayers;
  const row = (graph: string, r: { median: number; mean: number }) =>
    console.log(
      `${name.padEnd(14)} ${String(m.input.size).padEnd(5)} ${fetches.join('+').padEnd(60)} ${graph.padEnd(21)} ${r.median.toFixed(1).padStart(9)} ${r.mean.toFixed(1).padStart(8)}  | ${TFJS_WASM[name] ?? '-'}`,
    );
  row('committed', await time(path.join(dir, name, 'backbone.onnx'), m, fetches, xs));
  // Built-ins only: the same weights cut at the fetched layers (needs nsfwjs, a devDependency).
  const { BUILTIN_BACKBONES } = await import('../src/modelling/convert/builtin.js');
  const spec = BUILTIN_BACKBONES.find((b) => b.name === name);
  if (spec !== undefined) {
    const { convertLayersModel, readNsfwjsModel } = await import('../src/modelling/convert/index.js');
    const cut = convertLayersModel(readNsfwjsModel(spec.source), { outputs: fetches, inputSize: m.input.size, weightStorage: 'uint8' });
    row('cut at fetched only', await time(cut.onnx, m, fetches, xs));
  }
}
