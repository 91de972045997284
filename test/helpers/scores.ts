// Thresholds for tests that need a given mix of verdicts over the fixture cells, derived
// from what the shipped model really scores, so a refitted model keeps the tests meaningful.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInferencer, imageFromFile, loadModelPackage } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import { DEMO_MODEL, FIXTURES } from './paths.js';

let cached: Promise<Map<string, number>> | undefined;

/** The demo model's score for each fixture file name. */
export function fixtureScores(): Promise<Map<string, number>> {
  cached ??= (async () => {
    const inferencer = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    try {
      const scores = new Map<string, number>();
      for (const file of (await readdir(FIXTURES)).filter((f) => f.endsWith('.png')).sort()) {
        scores.set(file, (await inferencer.infer(await imageFromFile(path.join(FIXTURES, file)))).output.score);
      }
      return scores;
    } finally {
      await inferencer.close();
    }
  })();
  return cached;
}

/**
 * Thresholds under which exactly `defects` fixture cells are defects and the next
 * `uncertain` ones uncertain (cut points halfway between neighbouring scores).
 */
export async function thresholdsForMix(defects: number, uncertain: number): Promise<{ defect: number; uncertainBand: number }> {
  const sorted = [...(await fixtureScores()).values()].sort((a, b) => b - a);
  const cut = (n: number) => (n <= 0 ? sorted[0]! + 1 : n >= sorted.length ? sorted.at(-1)! - 1 : (sorted[n - 1]! + sorted[n]!) / 2);
  const defect = cut(defects);
  return { defect, uncertainBand: defect - cut(defects + uncertain) };
}
