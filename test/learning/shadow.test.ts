// The shadow run on a real line: a candidate (the shipped graph with a lower defect threshold)
// scores every frame beside the live model. Its scores are stored per inspection; verdicts,
// IoT Hub events and upload decisions stay the live model's; the frames the two disagree on
// are a queue filter, with their images kept so a reviewer can judge them.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Inspection } from '../../src/common/types.js';
import { decide } from '../../src/inference/index.js';
import { createReviewQueue } from '../../src/review/queue.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { candidatePackage, sinkEvents, startLearningLine, tempDir, until } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let app: App;
let live: { defect: number; uncertainBand: number };
let candidate: { defect: number; uncertainBand: number };
const seen: Inspection[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-shadow-'));
  // Live: the 3 highest-scoring cells are defects. Candidate: the 6 highest, so cells 4–6 are live ok / candidate defect.
  live = { ...(await thresholdsForMix(3, 0)), uncertainBand: 0 };
  candidate = { ...(await thresholdsForMix(6, 0)), uncertainBand: 0 };
  const candidateDir = await candidatePackage(path.join(dir, 'candidate'), (m) => ({ ...m, version: 'shadow-test', thresholds: { ...m.thresholds, ...candidate } }));
  app = await startLearningLine(dir, {
    thresholds: live,
    learning: { candidate: candidateDir },
    // Uploads on, to a Blob endpoint that refuses connections: the decisions are still recorded at each save.
    upload: { enabled: true, connectionString: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;', backoffInitialMs: 60000 },
    fps: 6,
  });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  const learning = app.extensions.find((e) => e.name === 'learning') as unknown as { learning: { status(): { shadow?: { scoredTotal: number; disagreements: number } } } };
  await until('the candidate scored frames it disagrees on', () => {
    const s = learning.learning.status().shadow;
    return s !== undefined && s.scoredTotal >= 24 && s.disagreements >= 4;
  }, 90_000);
});

afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

describe('shadow run', () => {
  it('stores the candidate\'s score and verdict per inspection', () => {
    const rows = app.store.db.prepare('SELECT s.*, i.score AS live_score FROM shadow_scores s JOIN inspections i ON i.id = s.inspection_id').all() as Array<Record<string, any>>;
    expect(rows.length).toBeGreaterThanOrEqual(24);
    expect(new Set(rows.map((r) => r.candidate))).toEqual(new Set(['shadow-test']));
    for (const r of rows) expect(r.verdict).toBe(decide(r.score, candidate));
    // The same graph on the same frame: the candidate's score is the live one.
    for (const r of rows) expect(r.score).toBeCloseTo(r.live_score, 4);
    expect(rows.some((r) => r.verdict === 'defect' && decide(r.live_score, live) === 'ok')).toBe(true);
  });

  it('changes no verdict, no event and no upload decision', async () => {
    const stored = app.store.db.prepare('SELECT id, verdict, score, model_version FROM inspections').all() as Array<{ id: string; verdict: string; score: number; model_version: string }>;
    for (const i of stored) {
      expect(i.verdict).toBe(decide(i.score, live));
      expect(i.model_version).not.toBe('shadow-test');
    }
    // IoT Hub (the local sink): exactly the live model's defects, none of the candidate's.
    const defects = new Set(stored.filter((i) => i.verdict === 'defect').map((i) => i.id));
    await until('the defect events sent', async () => (await sinkEvents(app)).filter((e) => e.body.eventType === 'defect').length >= defects.size - 2);
    const events = (await sinkEvents(app)).filter((e) => e.body.eventType === 'defect');
    for (const e of events) {
      expect(defects.has(e.body.inspectionId)).toBe(true);
      expect(e.body.model.version).toBe('0.5.0');
    }
    // Uploads: decided by the live verdict at the save; a disagreement whose image was kept later is not selected.
    const decisions = app.store.db
      .prepare('SELECT d.reason, d.selected, i.verdict, s.disagreement FROM upload_decisions d JOIN inspections i ON i.id = d.inspection_id LEFT JOIN shadow_scores s ON s.inspection_id = i.id')
      .all() as Array<{ reason: string; selected: number; verdict: string; disagreement: string | null }>;
    expect(decisions.length).toBeGreaterThan(0);
    for (const d of decisions) {
      if (d.verdict === 'defect') expect([d.reason, d.selected]).toEqual(['defect', 1]);
      else expect(d.selected).toBe(0);
    }
    expect(decisions.some((d) => d.disagreement === 'live-ok' && d.reason === 'ok-no-image')).toBe(true);
    const queued = app.store.db.prepare("SELECT COUNT(*) FROM upload_queue q JOIN inspections i ON i.id = q.inspection_id WHERE i.verdict = 'ok'").pluck().get();
    expect(queued).toBe(0);
  });

  it('puts the frames the models disagree on in their own queue filter, with their images', () => {
    const queue = createReviewQueue({ store: app.store });
    const disagreeing = queue.list({ limit: 500, verdict: 'all', shadow: 'live-ok' }).items;
    expect(disagreeing.length).toBeGreaterThanOrEqual(4);
    const ids = new Set(app.store.db.prepare("SELECT inspection_id FROM shadow_scores WHERE disagreement = 'live-ok'").pluck().all() as string[]);
    expect(new Set(disagreeing.map((i) => i.id))).toEqual(ids);
    for (const i of disagreeing) {
      expect(i.verdict).toBe('ok');
      expect(i.imagePath).toBeDefined();
    }
    // The live defects the candidate agrees on are not among them; no frame is live defect / candidate ok here.
    expect(queue.list({ limit: 500, verdict: 'all', shadow: 'live-defect' }).items).toEqual([]);
    expect(queue.list({ limit: 500, verdict: 'all', shadow: 'disagree' }).items.length).toBe(disagreeing.length);
  });

  it('shows the share of frames it scored', () => {
    const learning = app.extensions.find((e) => e.name === 'learning') as unknown as { learning: { status(): { shadow?: { share: number; achievedShare: number; seen: number; scored: number } } } };
    const s = learning.learning.status().shadow!;
    expect(s.share).toBe(1);
    expect(s.seen).toBeGreaterThan(0);
    expect(s.achievedShare).toBeCloseTo(s.scored / s.seen, 6);
    expect(s.achievedShare).toBeGreaterThan(0.5);
  });
});
