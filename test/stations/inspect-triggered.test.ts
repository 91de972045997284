// A station inspected only on trigger (stations[].inspect: triggered), with real folder cameras
// and the shipped model: between parts its camera's frames are read and skipped (counted, not
// dropped), a trigger still gets a view captured after it, and a sample request still gets a
// frame; a camera that also belongs to a continuous station is inspected all the time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartResult } from '../../src/line/triggers.js';
import { FIXTURES } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';
import { startStationLine, triggerOverHttp, type StationLine } from './helpers.js';

describe('a station inspected only on trigger', () => {
  let line: StationLine;
  const camera = (id: string) => line.app.cameras.find((c) => c.id === id)!.status();

  beforeAll(async () => {
    line = await startStationLine({
      cameras: ['cells', 'shared'].map((id) => ({ id, source: FIXTURES, fps: 10, loop: true, fullResolution: false })),
      stations: [
        { id: 'st1', cameras: ['cells', 'shared'], deadlineMs: 5000, inspect: 'triggered' },
        { id: 'st2', cameras: ['shared'], deadlineMs: 5000 },
      ],
    });
  });
  afterAll(async () => {
    await line?.stop();
  });

  it('reads the camera between parts without inspecting or dropping its frames', async () => {
    await until('frames read and skipped', () => camera('cells').framesSkipped! >= 10, 20_000);
    // The shared camera's frames go through the model meanwhile: the line runs, this camera waits for parts.
    await until('the shared camera inspected', () => line.seen.filter((i) => i.cameraId === 'shared').length >= 5, 20_000);
    expect(line.seen.filter((i) => i.cameraId === 'cells')).toHaveLength(0);
    expect(camera('cells')).toMatchObject({ framesDropped: 0 });
    expect(camera('shared').framesSkipped).toBe(0);
    const metrics = await (await fetch(`${line.url}/metrics`, { headers: line.auth })).text();
    expect(Number(/visor_camera_frames_skipped_total\{camera="cells"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(10);
  });

  it('inspects the first frame captured after a trigger, and only that one', async () => {
    const before = line.seen.filter((i) => i.cameraId === 'cells').length;
    const { status, body } = await triggerOverHttp(line, 'st1', 'SN-T1');
    expect(status).toBe(200);
    const result = body as unknown as PartResult;
    const view = line.app.store.get(result.views.cells!)!;
    expect(view.capturedAt).toBeGreaterThanOrEqual(result.triggeredAt);
    await new Promise((r) => setTimeout(r, 500)); // five more frames at 10 fps
    const cells = line.seen.filter((i) => i.cameraId === 'cells');
    expect(cells.length - before).toBe(1);
    expect(cells.at(-1)!.id).toBe(view.id);
  });

  it('still answers a sample request with a frame', async () => {
    const sample = await line.app.pipeline.requestSample('cells', { timeoutMs: 5000 });
    expect(sample).toMatchObject({ cameraId: 'cells' });
    expect(sample.imagePath).toBeDefined();
  });
});
