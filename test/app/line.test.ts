// The whole line in one process: a camera, the shipped model, the store and the review server.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createUserStore } from '../../src/review/index.js';
import type { Inspection } from '../../src/common/types.js';
import { makeFixtureVideo } from '../helpers/media.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { fixtureScores } from '../helpers/scores.js';
import { until } from '../helpers/wait.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-line-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});


describe('the line, end to end', () => {
  let app: App;
  const seen: Inspection[] = [];
  // The review API needs a signed-in user or an API token (src/review/auth.ts).
  let auth: { authorization: string };

  afterAll(async () => {
    await app?.stop();
  });

  it('turns folder frames into stored inspections with images, served by the review API', async () => {
    const config = parseConfig({
      cameras: [{ id: 'cells', source: FIXTURES, fps: 20, loop: true }],
      model: { package: DEMO_MODEL },
      store: { dataDir: path.join(dir, 'data'), okSampleFraction: 1 },
      review: { port: 0 },
      log: { level: 'silent' },
    });
    app = await createApp({ config, baseDir: dir, log: silentLogger() });
    app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
    const users = createUserStore({ db: app.store.db });
    await users.add({ name: 'ci', role: 'operator', password: 'ci-password' });
    auth = { authorization: `Bearer ${users.createToken('ci', 'line test').token}` };
    await app.start();
    // Newest wins: on a busy machine a frame can be dropped, so wait until every cell was
    // inspected at least twice rather than for a number of frames.
    const perFile = () => {
      const counts = new Map<string, number>();
      for (const i of seen) counts.set(path.basename(i.sourceFile ?? ''), (counts.get(path.basename(i.sourceFile ?? '')) ?? 0) + 1);
      return counts;
    };
    await until('two inspections of each of the 12 fixture cells', () => perFile().size === 12 && [...perFile().values()].every((n) => n >= 2));

    const byFile = new Map<string, Inspection>();
    for (const i of seen) byFile.set(path.basename(i.sourceFile ?? ''), i);
    expect([...byFile.keys()].every((f) => f.startsWith('cell') && f.endsWith('.png'))).toBe(true);
    // Every inspection is stored, with its image (okSampleFraction 1), before listeners hear of it.
    for (const i of seen.slice(0, 24)) {
      const stored = app.store.get(i.id);
      expect(stored).toMatchObject({ id: i.id, verdict: i.verdict, cameraId: 'cells', model: { name: 'elpv-cells' } });
      expect(stored!.imagePath).toBeTruthy();
      const meta = await sharp(app.store.imageFile(stored!.imagePath!)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 300, 300]);
    }
    // The same cell gets the same verdict on every pass: frames are not mixed up. And the line
    // scores a cell exactly as `visor inspect` and `visor eval` do (frames scaled the same way).
    const offline = await fixtureScores();
    for (const i of seen.slice(0, 24)) {
      expect(byFile.get(path.basename(i.sourceFile!))!.score).toBeCloseTo(i.score, 4);
      expect(i.score).toBeCloseTo(offline.get(path.basename(i.sourceFile!))!, 4);
    }

    const base = app.reviewUrl!;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const list = (await (await fetch(`${base}/api/inspections?limit=5`, { headers: auth })).json()) as { items: { id: string; imageUrl?: string }[] };
    expect(list.items).toHaveLength(5);
    const image = await fetch(`${base}${list.items[0]!.imageUrl}`, { headers: auth });
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).width).toBe(300);

    const health = (await (await fetch(`${base}/healthz`)).json()) as { status: string; cameras: { state: string }[] };
    expect(health).toMatchObject({ status: 'ok', cameras: [{ state: 'online' }] });
    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/visor_camera_frames_total\{camera="cells"\} [1-9]/);
    expect(metrics).toMatch(/visor_inspections_total\{camera="cells",verdict="\w+"\} [1-9]/);
    expect(metrics).toMatch(/visor_inference_seconds_count\{camera="cells"\} [1-9]/);
  });

  it('rejects bad API input with a 400 naming the problem', async () => {
    const res = await fetch(`${app.reviewUrl}/api/inspections?limit=100000&verdict=maybe`, { headers: auth });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/limit|verdict/);
    expect((await fetch(`${app.reviewUrl}/api/inspections/00000000-0000-7000-8000-000000000000`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${app.reviewUrl}/api/inspections?limit=5`)).status).toBe(401);
  });
});

describe('newest frame wins', () => {
  it('drops and counts frames behind a slow model, and memory stays bounded', async () => {
    const video = await makeFixtureVideo(path.join(dir, 'cells.mp4'), { fps: 25, repeat: 2 });
    const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    // A deliberately slow model: every frame takes 250 ms longer than the real one.
    const slow = delayedInferencer(real, () => new Promise((r) => setTimeout(r, 250)));
    const config = parseConfig({
      cameras: [{ id: 'fast', source: video, fps: 25, loop: true }],
      store: { dataDir: path.join(dir, 'slow-data'), okSampleFraction: 0 },
      review: { enabled: false },
    });
    const seqs: number[] = [];
    const app = await createApp({ config, baseDir: dir, log: silentLogger(), inferencer: slow });
    app.bus.on('inspection', ({ inspection }) => seqs.push(inspection.frameSeq));
    await app.start();
    try {
      await until('a few slow inspections', () => seqs.length >= 4);
      const rssStart = process.memoryUsage().rss;
      await until('more slow inspections', () => seqs.length >= 16);
      const rssGrowth = process.memoryUsage().rss - rssStart;
      const status = app.cameras[0]!.status();
      // About 25 frames arrive per 0.25 s inference: most are dropped, and every drop is counted.
      expect(status.framesDropped).toBeGreaterThan(seqs.length * 2);
      expect(status.framesIn).toBeGreaterThanOrEqual(status.framesDropped + seqs.length);
      // The model always gets a recent frame: sequence numbers jump ahead.
      const gaps = seqs.slice(1).map((s, i) => s - seqs[i]!);
      expect(Math.max(...gaps)).toBeGreaterThan(1);
      expect(gaps.every((g) => g > 0)).toBe(true);
      // Dropped frames are not kept anywhere: 100+ dropped 300x300 frames (full + scaled) would be tens of MB.
      expect(rssGrowth).toBeLessThan(40 * 1024 * 1024);
    } finally {
      await app.stop();
    }
  });
});
