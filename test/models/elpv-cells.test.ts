// The shipped demo model package: intact, valid manifest, and it really separates the fixture cells.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ManifestSchema, type ModelManifest } from '../../src/inference/manifest.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkgDir = path.join(repoRoot, 'models/elpv-cells');
const fixturesDir = path.join(repoRoot, 'test/fixtures/elpv');

async function readManifest(): Promise<ModelManifest> {
  return JSON.parse(await fs.readFile(path.join(pkgDir, 'model.json'), 'utf8')) as ModelManifest;
}

/** Preprocessing exactly as model.json describes it, independent of the build script. */
async function toInput(file: string, m: ModelManifest): Promise<ort.Tensor> {
  const { width, height, scale, mean, std } = m.input;
  const { data, info } = await sharp(file).resize(width, height, { fit: 'fill' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (data[i * info.channels + c]! * scale - mean[c]!) / std[c]!;
  }
  return new ort.Tensor('float32', out, [1, 3, height, width]);
}

describe('models/elpv-cells', () => {
  it('ships a model.onnx whose sha256 is the one in model.json', async () => {
    const m = await readManifest();
    const sha = createHash('sha256').update(await fs.readFile(path.join(pkgDir, 'model.onnx'))).digest('hex');
    expect(sha).toBe(m.sha256);
  });

  it('has a model.json that passes the manifest schema', async () => {
    const m = await readManifest();
    const errors = [...Value.Errors(ManifestSchema, m)].map((e) => `${e.path}: ${e.message}`);
    expect(errors).toEqual([]);
    expect(m.task).toBe('anomaly');
    expect(m.thresholds.defect).toBe(1);
  });

  it('records the backbone it was fitted with, and carries the backbone weights\' licence notice', async () => {
    const m = await readManifest();
    const bb = (m.provenance as { backbone: { name: string; sha256: string; layers: string[] } }).backbone;
    const dir = path.join(repoRoot, 'models/backbones', bb.name);
    const shipped = JSON.parse(await fs.readFile(path.join(dir, 'backbone.json'), 'utf8')) as { sha256: string; layers: { name: string }[] };
    expect(bb.sha256).toBe(shipped.sha256); // fitted on the committed backbone, not an older build
    expect(bb.layers.length).toBeGreaterThan(0);
    for (const l of bb.layers) expect(shipped.layers.map((x) => x.name)).toContain(l.split(' ')[0]);
    expect(await fs.readFile(path.join(pkgDir, 'LICENSE-backbone'), 'utf8')).toBe(await fs.readFile(path.join(dir, 'LICENSE'), 'utf8'));
  });

  it('scores the fixture defect cells higher on average than the fixture good cells', async () => {
    const m = await readManifest();
    const session = await ort.InferenceSession.create(path.join(pkgDir, 'model.onnx'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    try {
      expect(session.inputNames).toEqual([m.input.name]);
      expect([...session.outputNames].sort()).toEqual([m.outputs.heatmap, m.outputs.score].sort());
      const rows = (await fs.readFile(path.join(fixturesDir, 'labels.csv'), 'utf8')).trim().split(/\r?\n/).slice(1).map((l) => l.trim().split(','));
      const scores: Record<string, number[]> = { good: [], defect: [] };
      for (const [file, , , label] of rows) {
        if (label !== 'good' && label !== 'defect') continue;
        const r = await session.run({ [m.input.name]: await toInput(path.join(fixturesDir, file!), m) });
        const heat = r[m.outputs.heatmap!]!;
        expect(heat.dims.length).toBe(4);
        expect(heat.dims.slice(0, 2)).toEqual([1, 1]);
        const score = (r[m.outputs.score!]!.data as Float32Array)[0]!;
        expect(Number.isFinite(score)).toBe(true);
        scores[label]!.push(score);
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(scores.good!.length).toBe(7);
      expect(scores.defect!.length).toBe(4);
      expect(mean(scores.defect!)).toBeGreaterThan(mean(scores.good!));
    } finally {
      await session.release();
    }
  });
});
