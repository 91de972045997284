// A line with stations: a real folder camera (test/fixtures/elpv), the shipped model (or a
// slowed-down one through deps), SQLite on disk, the review server on a free port.
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/common/log.js';
import type { Inspection } from '../../src/common/types.js';
import { parseConfig } from '../../src/config/index.js';
import type { Inferencer } from '../../src/inference/index.js';
import type { ExtensionFactory } from '../../src/line/extension.js';
import { createReviewExtension, createUserStore } from '../../src/review/index.js';
import { createStationsExtension, type StationsExtension } from '../../src/stations/index.js';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

export interface StationLine {
  app: App;
  stations: StationsExtension;
  /** Every inspection the line stored, in order. */
  seen: Inspection[];
  /** Authorization header of an operator's API token. */
  auth: { authorization: string };
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startStationLine(options: {
  stations: unknown[];
  plc?: unknown;
  cameras?: unknown[];
  inferencer?: Inferencer;
  review?: boolean;
  /** More config sections (events, upload). */
  extra?: Record<string, unknown>;
  /** Besides the review UI and the stations. */
  extensions?: ExtensionFactory[];
}): Promise<StationLine> {
  const { dir, cleanup } = await tempDir('visor-stations-');
  const config = parseConfig({
    cameras: options.cameras ?? [{ id: 'cells', source: FIXTURES, fps: 10, loop: true, fullResolution: false }],
    model: { package: DEMO_MODEL },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
    review: options.review === false ? { enabled: false } : { port: 0 },
    stations: options.stations,
    plc: options.plc ?? {},
    log: { level: 'silent' },
    ...options.extra,
  });
  const app = await createApp({
    config,
    baseDir: dir,
    log: silentLogger(),
    inferencer: options.inferencer,
    extensions: [createReviewExtension, createStationsExtension, ...(options.extensions ?? [])],
  });
  const seen: Inspection[] = [];
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  const users = createUserStore({ db: app.store.db });
  await users.add({ name: 'plc', role: 'operator', password: 'plc-password' });
  const auth = { authorization: `Bearer ${users.createToken('plc', 'station test').token}` };
  await app.start();
  const stations = app.extensions.find((e) => e.name === 'stations') as StationsExtension;
  await until('every station Ready (its cameras online)', () => stations.stations.every((s) => s.handshake.state.ready));
  return {
    app,
    stations,
    seen,
    auth,
    url: app.reviewUrl ?? '',
    dir,
    async stop() {
      await app.stop();
      await cleanup();
    },
  };
}

export async function triggerOverHttp(line: StationLine, stationId: string, partId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${line.url}/api/stations/${stationId}/trigger`, {
    method: 'POST',
    headers: { ...line.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ partId }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
