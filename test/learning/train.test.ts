// Fitting a candidate from the store: `visor fit` in a child process at the lowest priority, on
// the reviewed images and the stored ok frames, with progress; the fitted candidate goes into
// the shadow run at once. Too few images is a clear refusal, and so is a second fit while one runs.
import { getPriority } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Learning } from '../../src/learning/index.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { candidatePackage, invertedInput, startLearningLine, tempDir, until } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let app: App;
let learning: Learning;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-train-'));
  app = await startLearningLine(dir, { thresholds: { ...(await thresholdsForMix(4, 0)), uncertainBand: 0 }, learning: { train: { maxImages: 40 } } });
  learning = (app.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

describe('candidates', () => {
  it('refuses to fit without enough good images, saying how many there are', async () => {
    // okSampleFraction 0: only flagged frames have images, and nobody has reviewed any.
    await until('a few inspections', () => app.pipeline.inspected >= 4);
    await expect(learning.train('test')).rejects.toMatchObject({ code: 'TOO_FEW_IMAGES', statusCode: 400, message: expect.stringMatching(/at least 10 good images .* the store has 0/) });
  });

  it('fits one at low priority with progress from the reviewed frames, and shadows it', async () => {
    // Reviewers reject the flagged frames (false alarms): good images with a stored image.
    await until('flagged frames to review', () => app.store.reviews.find({ verdict: 'flagged', review: 'unreviewed' }, 100).length >= 14, 60_000);
    const flagged = app.store.reviews.find({ verdict: 'flagged', review: 'unreviewed' }, 100);
    app.store.reviews.record({ ids: flagged.map((i) => i.id), decision: 'rejected', user: 'reviewer' });

    const started = await learning.train('review:alice');
    expect(started.version).toMatch(/^0\.5\.0-learned\.\d{8}t\d{6}$/);
    expect(started.pid).toBeDefined();
    expect(getPriority(started.pid!)).toBe(19);
    await expect(learning.train('review:bob')).rejects.toMatchObject({ code: 'TRAINING_UNDER_WAY' });
    const progress = await until('progress of the fit', () => learning.status().training?.progress, 60_000);
    expect(progress.total).toBeGreaterThan(0);

    await learning.trained();
    const status = learning.status();
    expect(status.lastTrainingError).toBeUndefined();
    expect(status.training).toBeUndefined();
    expect(status.candidate).toMatchObject({ version: started.version, status: 'ready', source: 'review:alice' });
    expect(existsSync(path.join(status.candidate!.dir, 'model.onnx'))).toBe(true);
    expect(status.candidate!.datasetImages).toBe(flagged.length);
    // The dataset manifest: what it was fitted on, for the fleet upload.
    const dataset = JSON.parse(app.store.db.prepare('SELECT dataset FROM learning_candidates WHERE version = ?').pluck().get(started.version) as string) as { images: Array<{ inspectionId: string; reviewed: boolean; label: string }> };
    expect(new Set(dataset.images.map((i) => i.inspectionId))).toEqual(new Set(flagged.map((i) => i.id)));
    expect(dataset.images.every((i) => i.reviewed && i.label === 'good')).toBe(true);
    await until('the new candidate scoring frames', () => (learning.status().shadow?.scoredTotal ?? 0) >= 3, 60_000);
    expect(learning.status().shadow!.candidate).toBe(started.version);
  }, 240_000);
});

describe('the every-N-verdicts rule', () => {
  it('starts a fit by itself once N verdicts came in', async () => {
    const { dir: ruleDir, cleanup: ruleCleanup } = await tempDir('visor-train-rule-');
    const line = await startLearningLine(ruleDir, { thresholds: { ...(await thresholdsForMix(4, 0)), uncertainBand: 0 }, learning: { train: { everyVerdicts: 12 } } });
    try {
      const loop = (line.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
      expect(loop.status().verdictsToNextFit).toBe(12);
      await until('flagged frames to review', () => line.store.reviews.find({ verdict: 'flagged', review: 'unreviewed' }, 100).length >= 12, 60_000);
      const flagged = line.store.reviews.find({ verdict: 'flagged', review: 'unreviewed' }, 12);
      // As the review API does: each verdict stored, then announced on the bus.
      for (const i of flagged.slice(0, 11)) for (const r of line.store.reviews.record({ ids: [i.id], decision: 'rejected', user: 'reviewer' })) line.bus.emit('review', r);
      await new Promise((r) => setTimeout(r, 1000));
      expect(loop.status()).toMatchObject({ verdictsToNextFit: 1 });
      expect(loop.status().training).toBeUndefined();
      for (const r of line.store.reviews.record({ ids: [flagged[11]!.id], decision: 'rejected', user: 'reviewer' })) line.bus.emit('review', r);
      const training = await until('a fit started by the rule', () => loop.status().training, 10_000);
      expect(training.source).toBe('rule');
    } finally {
      await line.stop();
      await ruleCleanup();
    }
  }, 120_000);

  it('holds a fit it is due back until minMinutesBetween after the last one, then starts it without another verdict', async () => {
    const { dir: coolDir, cleanup: coolCleanup } = await tempDir('visor-train-cooldown-');
    // The configured candidate counts as the last fit, from the line's start.
    const candidateDir = await candidatePackage(path.join(coolDir, 'candidate'), invertedInput('inverted-cooldown'));
    const line = await startLearningLine(coolDir, {
      thresholds: { ...(await thresholdsForMix(4, 0)), uncertainBand: 0 },
      learning: { candidate: candidateDir, train: { everyVerdicts: 4, minMinutesBetween: 0.75 }, promotion: { minFrames: 4, minPerClass: 1 } },
    });
    try {
      const loop = (line.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
      const notBefore = loop.status().nextRuleFitAfter!;
      expect(notBefore - Date.now()).toBeGreaterThan(30_000);
      // Reviewed frames both models scored (both classes, so the candidate has had its chance) and
      // more verdicts than the rule's N: a fit is due but for the interval.
      const scored = () => line.store.db.prepare("SELECT inspection_id FROM shadow_scores s JOIN inspections i ON i.id = s.inspection_id WHERE s.candidate = 'inverted-cooldown' AND i.image_path IS NOT NULL ORDER BY s.inspection_id").pluck().all() as string[];
      const ids = await until('frames with images the candidate scored', () => (scored().length >= 14 ? scored().slice(0, 14) : undefined), 60_000);
      ids.forEach((id, i) => {
        for (const r of line.store.reviews.record({ ids: [id], decision: i < 2 ? 'confirmed' : 'rejected', user: 'reviewer' })) line.bus.emit('review', r);
      });
      await new Promise((r) => setTimeout(r, 1500));
      expect(Date.now()).toBeLessThan(notBefore);
      expect(loop.status()).toMatchObject({ verdictsToNextFit: 0, promotion: { allowed: expect.any(Boolean) } });
      expect(loop.status().training).toBeUndefined();
      // No verdict after this: the rule looks again when the time is up.
      const training = await until('a fit started by the rule once the interval is over', () => loop.status().training, 60_000, 100);
      expect(training).toMatchObject({ source: 'rule' });
      expect(training.startedAt).toBeGreaterThanOrEqual(notBefore);
    } finally {
      await line.stop();
      await coolCleanup();
    }
  }, 150_000);
});
