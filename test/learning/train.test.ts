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
import { startLearningLine, tempDir, until } from './helpers.js';

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
    expect(started.version).toMatch(/^0\.4\.0-learned\.\d{8}t\d{6}$/);
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
    expect(status.candidate!.dataset!.images.length).toBe(flagged.length);
    expect(status.candidate!.dataset!.images.every((i) => i.reviewed && i.label === 'good')).toBe(true);
    await until('the new candidate scoring frames', () => (learning.status().shadow?.scoredTotal ?? 0) >= 3, 60_000);
    expect(learning.status().shadow!.candidate).toBe(started.version);
  }, 240_000);
});
