// Promotion and rollback on a real line. The candidate is the shipped graph reading the image
// inverted, so it ranks the fixture cells differently; the scripted reviewer's labels follow the
// candidate's ranking, so on the reviewed frames it is clearly better. The rule refuses while
// too few frames are reviewed, promotes through the verified hot swap once enough are, and a
// rollback brings the old package back; each change is an IoT Hub event.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Inspection } from '../../src/common/types.js';
import type { Learning } from '../../src/learning/index.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { thresholdsForMix } from '../helpers/scores.js';
import { candidatePackage, invertedInput, reviewByCandidateRanking, sinkEvents, startLearningLine, tempDir, until } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let app: App;
let learning: Learning;
const seen: Inspection[] = [];

/** The scripted reviewer: labels follow the candidate's ranking of the cells. */
const review = (count: number) => reviewByCandidateRanking(app, 'inverted-test', count);

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-promotion-'));
  const candidateDir = await candidatePackage(path.join(dir, 'candidate'), invertedInput('inverted-test'));
  app = await startLearningLine(dir, {
    thresholds: { ...(await thresholdsForMix(6, 0)), uncertainBand: 0 },
    learning: { candidate: candidateDir, promotion: { minFrames: 24, minPerClass: 6, margin: 0.05, bootstrap: 200 } },
  });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  learning = (app.extensions.find((e) => e.name === 'learning') as unknown as { learning: Learning }).learning;
  // Every cell scored by the candidate at least three times (the folder loops).
  await until('the candidate scored every cell', () => (learning.status().shadow?.scoredTotal ?? 0) >= 40, 90_000);
});

afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

describe('promotion', () => {
  it('refuses with too few reviewed frames, and the live model stays', async () => {
    expect(review(10)).toBe(10);
    await expect(learning.promote('alice')).rejects.toMatchObject({ code: 'PROMOTION_REFUSED', message: expect.stringMatching(/10 reviewed frames .* at least 24/) });
    expect(app.control.inferencer.manifest.version).toBe('0.5.0');
    expect(learning.status().promotion).toMatchObject({ allowed: false });
  });

  it('promotes a candidate that is better by a clear margin through the hot swap, and says so to IoT Hub', async () => {
    expect(review(30)).toBe(30);
    const comparison = learning.comparison()!;
    expect(comparison.frames).toBe(40);
    expect(comparison.candidate.auroc.value).toBe(1);
    expect(comparison.difference.auroc.value).toBeGreaterThan(0.05);
    expect(comparison.promotion.allowed).toBe(true);

    const change = await learning.promote('alice');
    expect(change).toMatchObject({ action: 'promote', user: 'alice', fromVersion: '0.5.0', toVersion: 'inverted-test', fromDir: DEMO_MODEL });
    expect(app.control.inferencer.manifest.version).toBe('inverted-test');
    const after = seen.length;
    await until('inspections by the promoted model', () => seen.slice(after).filter((i) => i.model.version === 'inverted-test').length >= 3);
    // The candidate left the shadow: it is live now.
    expect(learning.status().shadow).toBeUndefined();
    expect(learning.status().rollbackTo).toEqual({ version: '0.5.0' });
    await until('the promotion event sent', async () => (await sinkEvents(app)).find((e) => e.body.eventType === 'model'));
    const event = (await sinkEvents(app)).find((e) => e.body.eventType === 'model')!;
    expect(event.properties).toMatchObject({ eventType: 'model', modelVersion: 'inverted-test', severity: 'info' });
    expect(event.body).toMatchObject({ action: 'promote', user: 'alice', from: { version: '0.5.0' }, to: { version: 'inverted-test' }, comparison: { frames: 40, candidate: { auroc: 1 } } });
  });

  it('rolls back to the old package in one step', async () => {
    const change = await learning.rollback('bob');
    expect(change).toMatchObject({ action: 'rollback', user: 'bob', fromVersion: 'inverted-test', toVersion: '0.5.0', toDir: DEMO_MODEL });
    expect(app.control.modelDir).toBe(DEMO_MODEL);
    expect(app.control.inferencer.manifest.version).toBe('0.5.0');
    const after = seen.length;
    await until('inspections by the old model again', () => seen.slice(after).filter((i) => i.model.version === '0.5.0').length >= 3);
    await until('the rollback event sent', async () => (await sinkEvents(app)).find((e) => e.body.action === 'rollback'));
    // Nothing further back to go to.
    await expect(learning.rollback('bob')).rejects.toMatchObject({ code: 'NOTHING_TO_ROLL_BACK' });
    expect(learning.status().changes.map((c) => c.action)).toEqual(['rollback', 'promote']);
  });
});
