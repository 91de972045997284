// A promotion outlives a restart: the config still names the package it replaced, yet the line
// comes back with the promoted model live, and does not shadow the configured candidate again.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Learning } from '../../src/learning/index.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { candidatePackage, invertedInput, reviewByCandidateRanking, startLearningLine, tempDir, until } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let app: App | undefined;
const loop = (a: App) => (a.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-learning-restart-'));
});

afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

describe('after a restart', () => {
  it('keeps the promoted model live and does not shadow the configured candidate again', async () => {
    const candidateDir = await candidatePackage(path.join(dir, 'candidate'), invertedInput('inverted-restart'));
    const options = {
      thresholds: { ...(await thresholdsForMix(6, 0)), uncertainBand: 0 },
      learning: { candidate: candidateDir, promotion: { minFrames: 20, minPerClass: 5, margin: 0.05, bootstrap: 50 } },
    };
    app = await startLearningLine(dir, options);
    await until('the candidate scored frames', () => (loop(app!).status().shadow?.scoredTotal ?? 0) >= 30, 90_000);
    reviewByCandidateRanking(app, 'inverted-restart');
    await loop(app).promote('alice');
    await app.stop();

    app = await startLearningLine(dir, options);
    expect(app.control.inferencer.manifest.version).toBe('inverted-restart');
    expect(app.control.modelDir).toBe(candidateDir);
    expect(loop(app).status()).toMatchObject({ live: { version: 'inverted-restart' }, rollbackTo: { version: '0.5.0' } });
    expect(loop(app).status().shadow).toBeUndefined();
    const seen: string[] = [];
    app.bus.on('inspection', ({ inspection }) => seen.push(inspection.model.version));
    await until('inspections after the restart', () => seen.length >= 3);
    expect(new Set(seen)).toEqual(new Set(['inverted-restart']));
  }, 180_000);
});
