// The whole line with uploads: fixture cells through the shipped model into real Azurite.
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { Inspection } from '../../src/common/types.js';
import { blobBaseName, createUploadExtension, type UploadExtension } from '../../src/upload/index.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { fixtureScores, thresholdsForMix } from '../helpers/scores.js';
import { startAzurite, type Azurite } from './azurite.js';
import { blobNames, readJsonBlob, until } from './helpers.js';

let azurite: Azurite;
let dir: string;
/** The camera's folder: copies of the fixture cells, in the order described in beforeAll. */
let cellsDir: string;
let thresholds: { defect: number; uncertainBand: number };
/** How many of the 12 cells are ok. */
let okCount: number;
let maxPerHour: number;
/** Ok frames draw these in turn: with upload 0.5 of a store keeping all, every second one is sampled. */
const DRAWS = [0.9, 0.1];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-upload-line-'));
  // The camera replays a folder of the 12 fixture cells whose file-name order starts with the
  // cell the model scores lowest: a sample requested before the line starts lands on it (an ok
  // cell, whatever the thresholds), so the request is what uploads it.
  const scores = await fixtureScores();
  const lowest = [...scores.keys()].sort((a, b) => scores.get(a)! - scores.get(b)!)[0]!;
  const files = [lowest, ...[...scores.keys()].sort().filter((f) => f !== lowest)];
  cellsDir = path.join(dir, 'cells');
  await mkdir(cellsDir);
  for (const [i, file] of files.entries()) await copyFile(path.join(FIXTURES, file), path.join(cellsDir, `${String(i).padStart(2, '0')}-${file}`));
  // 3 defects, 4 ok cells, the rest uncertain.
  okCount = 4;
  thresholds = await thresholdsForMix(3, 12 - 3 - okCount);
  // The hourly cap: one less than what the policy selects in the pass, so exactly one frame meets it.
  let okSeen = 0;
  let selected = 0;
  for (const file of files) {
    const score = scores.get(file)!;
    const verdict = score >= thresholds.defect ? 'defect' : score >= thresholds.defect - thresholds.uncertainBand ? 'uncertain' : 'ok';
    if (verdict !== 'ok' || DRAWS[okSeen++ % 2]! < 0.5) selected++;
  }
  maxPerHour = selected - 1;
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The 12 fixture cells once each, with the thresholds and cap worked out above. */
function lineConfig(name: string, upload: Record<string, unknown>, fps: number) {
  return parseConfig({
    cameras: [{ id: 'cells', source: cellsDir, fps, loop: false, thresholds, upload: { maxPerHour } }],
    model: { package: DEMO_MODEL },
    store: { dataDir: path.join(dir, name), okSampleFraction: 1 },
    review: { enabled: false },
    upload: { enabled: true, connectionString: azurite.connectionString, container: name, line: 'line-1', backoffInitialMs: 50, backoffMaxMs: 300, ...upload },
  });
}

async function startLine(name: string, upload: Record<string, unknown>, fps: number, random: () => number = Math.random) {
  let ext: UploadExtension | undefined;
  const app = await createApp({
    config: lineConfig(name, upload, fps),
    baseDir: dir,
    log: silentLogger(),
    random,
    extensions: [(ctx) => (ext = createUploadExtension(ctx))],
  });
  const seen: Inspection[] = [];
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  return { app, seen, upload: () => ext!, start: () => app.start() };
}

function blobsOf(i: Inspection): string[] {
  const base = blobBaseName('line-1', i.cameraId, i.capturedAt, i.id);
  return [`${base}.jpg`, `${base}.json`];
}

function selectedIds(app: App): Set<string> {
  return new Set((app.store.db.prepare('SELECT inspection_id FROM upload_decisions WHERE selected = 1').pluck().all() as string[]));
}

describe('uploads from a running line', () => {
  let line: Awaited<ReturnType<typeof startLine>>;
  let requested: Inspection;
  afterAll(async () => {
    await line?.app.stop();
  });

  it('uploads exactly what the policy says: every defect and uncertain cell, half the ok ones, the requested one, up to the hourly cap', async () => {
    let draw = 0;
    const draws = DRAWS;
    line = await startLine('policy', { okSampleFraction: 0.5 }, 4, () => draws[draw++ % 2]!);
    // Requested before the first frame, so it is the first cell's whatever the machine's speed
    // (a request made while the line runs takes the next frame decided, which depends on timing).
    const sample = line.app.pipeline.requestSample('cells');
    await line.start();
    requested = await sample;
    await until('the 12 cells', () => line.seen.length === 12);
    await until('the queue to drain', () => line.upload().status().queueDepth === 0 && selectedIds(line.app).size > 0);

    const inspections = [...line.seen].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(requested.id).toBe(inspections[0]!.id);
    const verdicts = inspections.map((i) => i.verdict);
    expect([verdicts.filter((v) => v === 'defect').length, verdicts.filter((v) => v === 'ok').length]).toEqual([3, okCount]);
    // The policy, worked out independently of the code under test.
    const expected = new Map<string, { reason: string; override: string | null }>();
    let okDraw = 0;
    let selected = 0;
    for (const i of inspections) {
      let reason = i.verdict === 'ok' ? (draws[okDraw++ % 2]! < 0.5 ? 'ok-sampled' : 'ok-not-sampled') : i.verdict;
      const wanted = reason !== 'ok-not-sampled';
      if (wanted && selected >= maxPerHour) reason = 'hourly-cap';
      else if (wanted) selected++;
      const isSelected = reason !== 'ok-not-sampled' && reason !== 'hourly-cap';
      expected.set(i.id, { reason, override: i.id === requested.id && !isSelected ? 'requested' : null });
    }
    const rows = line.app.store.db.prepare('SELECT inspection_id AS id, reason, override FROM upload_decisions').all() as { id: string; reason: string; override: string | null }[];
    expect(new Map(rows.map((r) => [r.id, { reason: r.reason, override: r.override }]))).toEqual(expected);
    expect([...expected.values()].filter((e) => e.reason === 'hourly-cap')).toHaveLength(1);
    expect(expected.get(requested.id)!.reason).toMatch(/^ok-/); // the request landed on an ok cell

    const uploaded = inspections.filter((i) => {
      const e = expected.get(i.id)!;
      return e.override !== null || !['ok-not-sampled', 'hourly-cap'].includes(e.reason);
    });
    expect(await blobNames(azurite.container('policy'))).toEqual(uploaded.flatMap(blobsOf).sort());
    const tags = (await azurite.container('policy').getBlobClient(blobsOf(uploaded[0]!)[0]!).getTags()).tags;
    expect(tags).toMatchObject({ camera: 'cells', verdict: uploaded[0]!.verdict, model: 'elpv-cells', reviewed: 'false' });
  });

  it('turns a review into labels: tags and sidecar of an uploaded defect change, a missed defect is uploaded as a labelled example', async () => {
    const { app } = line;
    const container = azurite.container('policy');
    const decision = (id: string) => app.store.db.prepare('SELECT selected, reason, override FROM upload_decisions WHERE inspection_id = ?').get(id) as { selected: number; reason: string; override: string | null };
    const defect = line.seen.find((i) => i.verdict === 'defect')!;
    const missed = line.seen.find((i) => i.verdict === 'ok' && decision(i.id).selected === 0)!;
    const review = (i: Inspection, verdict: 'rejected' | 'relabeled', label: string) => {
      const [recorded] = app.store.reviews.record({ ids: [i.id], decision: verdict, label: verdict === 'relabeled' ? label : undefined, user: 'qa-anna', note: 'checked under the microscope' });
      expect(recorded!.label).toBe(label);
      app.bus.emit('review', recorded!);
    };
    const [defectImage, defectSidecar] = blobsOf(defect);
    const etagBefore = (await container.getBlobClient(defectImage!).getProperties()).etag;
    review(defect, 'rejected', 'good');
    review(missed, 'relabeled', 'defect');

    await until('the rejected defect relabelled', async () => (await container.getBlobClient(defectImage!).getTags()).tags.label === 'good');
    expect((await container.getBlobClient(defectImage!).getTags()).tags).toMatchObject({ label: 'good', reviewed: 'true', verdict: 'defect' });
    // The image's tags change first, then the sidecar is rewritten with its own.
    await until('the sidecar rewritten', async () => (await readJsonBlob(container.getBlobClient(defectSidecar!))).label === 'good');
    expect((await container.getBlobClient(defectSidecar!).getTags()).tags).toMatchObject({ label: 'good', reviewed: 'true', kind: 'sidecar' });
    const sidecar = await readJsonBlob(container.getBlobClient(defectSidecar!));
    expect(sidecar).toMatchObject({ label: 'good', reviewed: true, verdict: 'defect', review: { decision: 'rejected', user: 'qa-anna', note: 'checked under the microscope' } });
    // The image itself is untouched (tags do not change the etag), so a resumed pull keeps it.
    expect((await container.getBlobClient(defectImage!).getProperties()).etag).toBe(etagBefore);

    const [missedImage, missedSidecar] = blobsOf(missed);
    await until('the missed defect uploaded', () => container.getBlobClient(missedSidecar!).exists());
    await until('its sidecar', async () => (await readJsonBlob(container.getBlobClient(missedSidecar!))).label === 'defect');
    expect((await container.getBlobClient(missedImage!).getTags()).tags).toMatchObject({ label: 'defect', reviewed: 'true', verdict: 'ok' });
    expect(decision(missed.id)).toMatchObject({ selected: 1, override: 'review' });
  });
});

describe('Blob Storage outage', () => {
  it('keeps the line inspecting while uploads queue, then drains: nothing duplicated, nothing missing', async () => {
    const line = await startLine('outage', { okSampleFraction: 0 }, 2);
    await line.start();
    try {
      await until('a first upload', () => line.upload().status().uploaded >= 1);
      await azurite.stop();
      const before = line.seen.length;
      await until('frames inspected while Blob Storage is down', () => line.seen.length >= before + 3 && line.upload().status().queueDepth >= 2);
      expect(line.app.health.report().upload).toMatchObject({ ok: false, connected: false, lastErrorCode: 'UPLOAD_UNREACHABLE' });
      await azurite.start();
      await until('the 12 cells', () => line.seen.length === 12);
      await until('the queue to drain', () => line.upload().status().queueDepth === 0);
      // The outage's error is in the log, not in health: health says what is wrong now.
      expect(line.app.health.report().upload).toMatchObject({ ok: true, connected: true, lastError: null, lastErrorCode: null, lastSuccessAgeSeconds: expect.any(Number) });

      const selected = line.seen.filter((i) => selectedIds(line.app).has(i.id));
      // Every defect and uncertain cell (no ok ones at fraction 0), none twice.
      expect(selected.map((i) => i.verdict).sort()).toEqual([...Array(3).fill('defect'), ...Array(9 - okCount).fill('uncertain')]);
      expect(await blobNames(azurite.container('outage'))).toEqual(selected.flatMap(blobsOf).sort());
    } finally {
      await line.app.stop();
      await azurite.start();
    }
  });
});
