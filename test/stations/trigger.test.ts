// Triggered part inspection over HTTP with a real folder camera and the shipped model: the
// view is a frame captured after the trigger (+ settle), never one that waited in the slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferencer, loadModelPackage } from '../../src/inference/index.js';
import { silentLogger } from '../../src/common/log.js';
import type { PartResult } from '../../src/line/triggers.js';
import { delayedInferencer } from '../helpers/inferencer.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';
import { startStationLine, triggerOverHttp, type StationLine } from './helpers.js';

describe('a station triggered over HTTP', () => {
  let line: StationLine;
  // The real model behind a gate: while it is shut, a frame waits in inference and newer ones pile up in the slot.
  let gate: Promise<void> = Promise.resolve();
  let openGate: () => void = () => {};
  let inferStarts = 0;

  beforeAll(async () => {
    const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    const inferencer = delayedInferencer(real, () => {
      inferStarts++;
      return gate;
    });
    line = await startStationLine({ stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000, settleMs: 120 }], inferencer });
  });
  afterAll(async () => {
    openGate();
    await line?.stop();
  });

  it('takes the first frame captured settleMs after the trigger, not the one that waited in the slot', async () => {
    await until('a first inspection', () => line.seen.length > 0);
    gate = new Promise((r) => (openGate = r));
    const blocked = inferStarts;
    await until('a frame held in inference', () => inferStarts > blocked);
    // At 10 fps, a newer frame is in the slot after 250 ms: captured before the trigger.
    await new Promise((r) => setTimeout(r, 250));
    const lastSeqBefore = Math.max(...line.seen.map((i) => i.frameSeq));
    const storedBefore = line.seen.length;
    const pending = triggerOverHttp(line, 'st1', 'SN-0001');
    await new Promise((r) => setTimeout(r, 50));
    openGate();
    gate = Promise.resolve();
    const { status, body } = await pending;
    expect(status).toBe(200);
    const result = body as unknown as PartResult;
    expect(result).toMatchObject({ stationId: 'st1', partId: 'SN-0001', late: false });
    expect(result.verdict).toBe(result.viewsVerdict === 'ok' ? 'ok' : 'ng');
    const viewId = result.views.cells!;
    const view = line.app.store.get(viewId)!;
    expect(view.capturedAt).toBeGreaterThanOrEqual(result.triggeredAt + 120);
    expect(view.frameSeq).toBeGreaterThan(lastSeqBefore);
    // The frames that waited (in inference and in the slot) were stored after the trigger, and were not taken.
    const skipped = line.seen.slice(storedBefore).filter((i) => i.capturedAt < result.triggeredAt);
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(skipped.map((i) => i.id)).not.toContain(viewId);

    // Stored as one part inspection with its view, found by part id.
    const res = await fetch(`${line.url}/api/parts?partId=SN-0001`, { headers: line.auth });
    const { parts } = (await res.json()) as { parts: Array<Record<string, unknown>> };
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ partId: 'SN-0001', stationId: 'st1', source: 'http:plc', verdict: result.verdict, resultCode: result.resultCode, late: false, viewsVerdict: view.verdict, views: [{ cameraId: 'cells', inspectionId: viewId }] });
  });

  it('echoes the part id and raises ResultReady in the handshake; an ack clears it', async () => {
    const station = line.stations.stations[0]!;
    const { body } = await triggerOverHttp(line, 'st1', 'SN-0002');
    expect(station.handshake.state).toMatchObject({ resultReady: true, busy: false, ready: false, partId: 'SN-0002', resultCode: body.resultCode, ok: body.verdict === 'ok', ng: body.verdict === 'ng' });
    station.handshake.ack();
    expect(station.handshake.state).toMatchObject({ resultReady: false, ok: false, ng: false, ready: true });
  });

  it('refuses a trigger while a part waits for its result (409), and what is not a trigger', async () => {
    gate = new Promise((r) => (openGate = r));
    const first = triggerOverHttp(line, 'st1', 'SN-0003');
    await until('station busy', () => line.stations.stations[0]!.handshake.state.busy);
    const second = await triggerOverHttp(line, 'st1', 'SN-0004');
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: 'STATION_BUSY' });
    openGate();
    gate = Promise.resolve();
    expect((await first).status).toBe(200);

    expect((await triggerOverHttp(line, 'nope', 'SN-1')).status).toBe(404);
    const bad = await fetch(`${line.url}/api/stations/st1/trigger`, { method: 'POST', headers: { ...line.auth, 'content-type': 'application/json' }, body: JSON.stringify({ part: 'x' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/partId/);
    const anonymous = await fetch(`${line.url}/api/stations/st1/trigger`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ partId: 'SN-5' }) });
    expect(anonymous.status).toBe(401);
    // Nothing was stored for the refused triggers.
    expect(line.stations.parts.list({ partId: 'SN-0004' })).toEqual([]);
    expect(line.stations.parts.list({ partId: 'SN-5' })).toEqual([]);
  });
});

describe('the deadline', () => {
  let line: StationLine;
  let slowMs = 0;

  beforeAll(async () => {
    const real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), log: silentLogger() });
    const slow = delayedInferencer(real, () => new Promise((r) => setTimeout(r, slowMs)));
    line = await startStationLine({ stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 150 }], inferencer: slow });
  });
  afterAll(async () => {
    await line?.stop();
  });

  it('writes Ng + timeout at the deadline when the model is too slow, and stores the late verdict marked late', async () => {
    slowMs = 600;
    // Let a frame already in inference finish first: the part's view is then sure to be slow.
    await new Promise((r) => setTimeout(r, 700));
    const misses = line.stations.stations[0]!.counters.deadlineMisses;
    const { status, body } = await triggerOverHttp(line, 'st1', 'SLOW-1');
    expect(status).toBe(200);
    const result = body as unknown as PartResult;
    expect(result).toMatchObject({ partId: 'SLOW-1', verdict: 'ng', resultCode: 10, late: true, views: {} });
    expect(result.resultAt - result.triggeredAt).toBeGreaterThanOrEqual(150);
    expect(line.stations.stations[0]!.handshake.state).toMatchObject({ ng: true, ok: false, resultCode: 10, partId: 'SLOW-1', resultReady: true });
    expect(line.stations.stations[0]!.counters.deadlineMisses).toBe(misses + 1);

    const stored = await until('the late verdict stored', () => {
      const part = line.stations.parts.get(result.part);
      return part?.completedAt !== null ? part : undefined;
    });
    expect(stored).toMatchObject({ verdict: 'ng', resultCode: 10, late: true });
    expect(stored.viewsVerdict).toMatch(/^(ok|uncertain|defect)$/);
    expect(stored.views).toHaveLength(1);
    const view = line.app.store.get(stored.views[0]!.inspectionId)!;
    expect(view.verdict).toBe(stored.viewsVerdict);
    expect(view.capturedAt).toBeGreaterThanOrEqual(result.triggeredAt);
    expect(stored.completedAt!).toBeGreaterThan(stored.resultAt!);
    slowMs = 0;
  });
});
