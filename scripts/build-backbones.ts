// Builds the built-in backbones models/backbones/{mobilenet_v2,inception_v3}/ from the
// TensorFlow.js models in the npm package nsfwjs (a devDependency):
//   npx tsx scripts/build-backbones.ts            write backbone.onnx, backbone.json, LICENSE
//   npx tsx scripts/build-backbones.ts --check    rebuild in memory, exit 1 if the committed files differ
//   npx tsx scripts/build-backbones.ts mobilenet_v2   only the named backbones
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_BACKBONES, buildBuiltinBackbone, sha256 } from '../src/modelling/convert/builtin.js';
import { nsfwjsDistDir } from '../src/modelling/convert/nsfwjs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const names = args.filter((a) => !a.startsWith('--'));
const specs = BUILTIN_BACKBONES.filter((s) => names.length === 0 || names.includes(s.name));
if (specs.length === 0) {
  console.error(`unknown backbone(s) ${names.join(', ')}; known: ${BUILTIN_BACKBONES.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

let stale = 0;
for (const spec of specs) {
  const dir = path.join(repoRoot, 'models', 'backbones', spec.name);
  const built = buildBuiltinBackbone(spec);
  const json = `${JSON.stringify(built.manifest, null, 2)}\n`;
  const mb = (built.onnx.byteLength / 1e6).toFixed(2);
  if (check) {
    const onnxSha = await readFile(path.join(dir, 'backbone.onnx')).then(sha256, () => 'missing');
    const oldJson = await readFile(path.join(dir, 'backbone.json'), 'utf8').catch(() => 'missing');
    const ok = onnxSha === built.manifest.sha256 && oldJson === json;
    if (!ok) stale += 1;
    console.log(`${spec.name}: ${ok ? 'up to date' : 'DIFFERS from a fresh build'} (${mb} MB, sha256 ${built.manifest.sha256.slice(0, 12)}…)`);
    continue;
  }
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'backbone.onnx'), built.onnx);
  await writeFile(path.join(dir, 'backbone.json'), json);
  await copyFile(path.join(nsfwjsDistDir(), '..', 'LICENSE'), path.join(dir, 'LICENSE'));
  const layers = built.manifest.layers.map((l) => `${l.name} (${l.channels} ch, /${l.stride})`).join(', ');
  console.log(`${spec.name}: ${mb} MB, ${built.conversion.layers.length} Keras layers → ${path.relative(repoRoot, dir)}; outputs ${layers}`);
}
process.exit(stale > 0 ? 1 : 0);
