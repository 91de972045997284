// The fleet view: the candidate, its dataset manifest and its comparison uploaded to Blob
// Storage (Azurite) under <line>/learning/<version>/, with the sha256 of model.json the module
// twin's model reference needs.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { compareModels } from '../../src/learning/compare.js';
import { uploadCandidate } from '../../src/learning/fleet.js';
import { startAzurite, type Azurite } from '../upload/azurite.js';
import { readJsonBlob } from '../upload/helpers.js';
import { candidatePackage, tempDir } from './helpers.js';

let azurite: Azurite;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  azurite = await startAzurite();
  ({ dir, cleanup } = await tempDir('visor-fleet-'));
}, 60_000);

afterAll(async () => {
  await azurite?.dispose();
  await cleanup?.();
});

describe('fleet upload', () => {
  it('uploads the candidate package, its dataset manifest (no device paths) and its comparison', async () => {
    const candidateDir = await candidatePackage(path.join(dir, 'cand'), (m) => ({ ...m, version: 'fleet-test' }));
    const config = parseConfig({ cameras: [{ id: 'a', source: 'x' }], upload: { enabled: true, connectionString: azurite.connectionString, container: 'fleet', line: 'line-7' } }).upload;
    const comparison = compareModels([0, 1, 2, 3].map((i) => ({ defect: i % 2 === 1, live: i / 4, candidate: (i % 2) + i / 10, liveThreshold: 0.5 })), { resamples: 10 });
    const fleet = await uploadCandidate({
      config,
      candidate: {
        version: 'fleet-test',
        dir: candidateDir,
        status: 'ready',
        source: 'review:alice',
        createdAt: 1,
        dataset: { liveModel: { name: 'elpv-cells', version: '0.5.0' }, skipped: 0, images: [{ inspectionId: 'i-1', cameraId: 'a', file: '/data/images/a/2026-12-01/i-1.jpg', label: 'good', reviewed: true }] },
      },
      comparison,
    });
    expect(fleet.prefix).toBe('line-7/learning/fleet-test/');
    const container = azurite.container('fleet');
    const names: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: fleet.prefix })) names.push(b.name);
    expect(names.sort()).toEqual(['comparison.json', 'dataset.json', 'model.json', 'model.onnx'].map((n) => fleet.prefix + n));
    const modelJson = await readFile(path.join(candidateDir, 'model.json'));
    expect(fleet.modelJsonSha256).toBe(createHash('sha256').update(modelJson).digest('hex'));
    const onnx = await container.getBlobClient(`${fleet.prefix}model.onnx`).downloadToBuffer();
    expect(onnx.equals(await readFile(path.join(candidateDir, 'model.onnx')))).toBe(true);
    const dataset = await readJsonBlob(container.getBlobClient(`${fleet.prefix}dataset.json`));
    expect(dataset.images).toEqual([{ inspectionId: 'i-1', cameraId: 'a', file: 'i-1.jpg', label: 'good', reviewed: true }]);
    expect((await readJsonBlob(container.getBlobClient(`${fleet.prefix}comparison.json`))).frames).toBe(4);
  });
});
