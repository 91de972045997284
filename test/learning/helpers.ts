// Lines that run the learning loop over the fixture cells, and candidate packages made from the
// shipped model: the same graph under another version, with other thresholds or another input
// normalisation (so it ranks the cells differently).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';

export { tempDir } from '../helpers/temp.js';
export { until } from '../helpers/wait.js';

/** A copy of the shipped model package with manifest fields changed. */
export async function candidatePackage(dir: string, change: (manifest: Record<string, any>) => Record<string, any>): Promise<string> {
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(DEMO_MODEL, 'model.onnx'), path.join(dir, 'model.onnx'));
  const manifest = JSON.parse(await readFile(path.join(DEMO_MODEL, 'model.json'), 'utf8')) as Record<string, any>;
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(change(manifest), null, 2));
  return dir;
}

/** The shipped graph reading the image inverted: its scores rank the fixture cells differently. */
export function invertedInput(version: string) {
  return (m: Record<string, any>) => ({ ...m, version, input: { ...m.input, scale: -m.input.scale, mean: m.input.mean.map((v: number) => -v) } });
}

export interface LearningLineOptions {
  thresholds: { defect: number; uncertainBand: number };
  learning: Record<string, unknown>;
  upload?: Record<string, unknown>;
  review?: Record<string, unknown>;
  fps?: number;
}

/** A folder camera over the fixture cells through the shipped model, events to the local sink, the learning loop as given. */
export async function startLearningLine(dir: string, o: LearningLineOptions): Promise<App> {
  const config = parseConfig({
    cameras: [{ id: 'a', source: FIXTURES, fps: o.fps ?? 8, fullResolution: false }],
    model: { package: DEMO_MODEL, thresholds: o.thresholds },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
    review: o.review ?? { enabled: false },
    events: { backoffInitialMs: 100, backoffMaxMs: 500 },
    ...(o.upload ? { upload: o.upload } : {}),
    learning: { enabled: true, ...o.learning },
  });
  const app = await createApp({ config, baseDir: dir, log: silentLogger() });
  await app.start();
  return app;
}

/** The events the local sink wrote (no IoT Hub configured), as parsed bodies. */
export async function sinkEvents(app: App): Promise<Array<Record<string, any>>> {
  const events = app.extensions.find((e) => e.name === 'events') as { sinkFile?: string } | undefined;
  const text = await readFile(events!.sinkFile!, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/**
 * The scripted reviewer of the promotion tests: labels the unreviewed frames `candidate` scored
 * (at most `count`, oldest first), the top half of the cells by the candidate's score as
 * defects, so on the reviewed frames the labels follow the candidate's ranking. Returns how many.
 */
export function reviewByCandidateRanking(app: App, candidate: string, count = Number.POSITIVE_INFINITY): number {
  const scored = app.store.db
    .prepare('SELECT s.inspection_id AS id, s.score, i.source_file AS file, r.inspection_id AS reviewed FROM shadow_scores s JOIN inspections i ON i.id = s.inspection_id LEFT JOIN review_state r ON r.inspection_id = s.inspection_id WHERE s.candidate = ? ORDER BY s.inspection_id')
    .all(candidate) as Array<{ id: string; score: number; file: string; reviewed: string | null }>;
  const byFile = new Map(scored.map((r) => [r.file, r.score]));
  const ranked = [...byFile.entries()].sort((a, b) => b[1] - a[1]).map(([f]) => f);
  const defects = new Set(ranked.slice(0, Math.ceil(ranked.length / 2)));
  const picked = scored.filter((r) => r.reviewed === null).slice(0, count);
  for (const r of picked) app.store.reviews.record({ ids: [r.id], decision: defects.has(r.file) ? 'confirmed' : 'rejected', user: 'reviewer' });
  return picked.length;
}
