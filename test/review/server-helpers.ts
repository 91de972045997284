// A review server as the browser tests build it: the seeded store and bus, these cameras, the
// default review config, a silent log; anything else through `extra`.
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { Bus } from '../../src/line/bus.js';
import { createMetrics } from '../../src/line/metrics.js';
import { buildReviewServer, type ReviewDeps } from '../../src/review/index.js';
import type { Store } from '../../src/store/index.js';
import type { CameraStatus } from '../../src/common/types.js';

export function testReviewServer(deps: { store: Store; bus: Bus; cameras: CameraStatus[]; uiDir: string } & Partial<Omit<ReviewDeps, 'cameras'>>): FastifyInstance {
  const { cameras, ...rest } = deps;
  return buildReviewServer({
    config: parseConfig({ cameras: [{ id: 'x', source: 'x' }] }).review,
    model: () => ({ name: 'elpv-cells', version: '0.1.0', task: 'anomaly' }),
    metrics: createMetrics({ cameras: () => cameras, defaultMetrics: false }),
    log: silentLogger(),
    ...rest,
    cameras: () => cameras,
  });
}
