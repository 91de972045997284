// The upload extension against real Azurite and a real store, fed with saved inspections.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobBaseName } from '../../src/upload/index.js';
import { ACCOUNT_KEY, startAzurite, type Azurite } from './azurite.js';
import { blobNames, capturingLogger, readJsonBlob, startTestLine, until } from './helpers.js';

let azurite: Azurite;
let dir: string;
let n = 0;
const dataDir = () => path.join(dir, `data-${++n}`);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-upload-'));
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function metric(line: Awaited<ReturnType<typeof startTestLine>>, name: string): Promise<string> {
  const text = await line.ctx.metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

describe('upload extension', () => {
  it('uploads image and sidecar with metadata and index tags under the documented name, and records every decision', async () => {
    const container = 'samples-a';
    const line = await startTestLine({ upload: { connectionString: azurite.connectionString, container, line: 'line-7', okSampleFraction: 0 } }, dataDir());
    try {
      const capturedAt = Date.parse('2025-03-04T05:06:07.000Z');
      const defect = line.save('defect', { capturedAt });
      const ok = line.save('ok', { capturedAt: capturedAt + 1 });
      await until('the upload', () => line.upload.status().queueDepth === 0 && line.upload.status().uploaded === 1);

      const base = `line-7/cam-a/2025/03/04/${defect.id}`;
      expect(blobBaseName('line-7', 'cam-a', capturedAt, defect.id)).toBe(base);
      expect(await blobNames(azurite.container(container))).toEqual([`${base}.jpg`, `${base}.json`]);
      const image = azurite.container(container).getBlobClient(`${base}.jpg`);
      const props = await image.getProperties();
      expect(props.contentType).toBe('image/jpeg');
      expect(props.metadata).toMatchObject({ inspectionid: defect.id, verdict: 'defect', camera: 'cam-a', modelname: 'elpv-cells', modelversion: '0.1.0', line: 'line-7' });
      expect((await image.getTags()).tags).toEqual({
        kind: 'image',
        line: 'line-7',
        camera: 'cam-a',
        label: 'defect',
        verdict: 'defect',
        reviewed: 'false',
        model: 'elpv-cells',
        modelVersion: '0.1.0',
        capturedAt: '2025-03-04T05:06:07.000Z',
        inspectionId: defect.id,
      });
      const sidecar = await readJsonBlob(azurite.container(container).getBlobClient(`${base}.json`));
      expect(sidecar).toMatchObject({
        schema: 'visor.sample/1',
        inspectionId: defect.id,
        label: 'defect',
        reviewed: false,
        verdict: 'defect',
        score: defect.score,
        model: { name: 'elpv-cells', version: '0.1.0', task: 'anomaly' },
        thresholds: { defect: 1, uncertainBand: 0.1 },
        upload: { reason: 'defect', override: null },
        camera: { id: 'cam-a', fps: 5 },
        inspection: { id: defect.id, capturedAt, timings: { inferenceMs: 10 } },
      });
      expect(sidecar.camera.source).toBeUndefined(); // an RTSP URL may carry a password
      const decisions = line.ctx.store.db.prepare('SELECT inspection_id, selected, reason, uploaded_at IS NOT NULL AS uploaded FROM upload_decisions ORDER BY inspection_id').all();
      expect(decisions).toEqual([
        { inspection_id: defect.id, selected: 1, reason: 'defect', uploaded: 1 },
        { inspection_id: ok.id, selected: 0, reason: 'ok-not-sampled', uploaded: 0 },
      ]);
      expect(await metric(line, 'visor_upload_uploaded_total')).toContain('visor_upload_uploaded_total{kind="sample"} 1');
      expect(line.ctx.health.report().upload).toMatchObject({ ok: true, connected: true, queueDepth: 0, uploaded: 1 });
    } finally {
      await line.close();
    }
  });

  it('stops sampling a camera at its hourly cap, and refuses samples beyond the queue length', async () => {
    const line = await startTestLine(
      { upload: { connectionString: azurite.connectionString, container: 'samples-cap', maxPerHourPerCamera: 2, maxQueueLength: 1 } },
      dataDir(),
    );
    await azurite.stop(); // an outage: jobs stay queued, so the queue fills
    try {
      const saved = [line.save('defect'), line.save('defect'), line.save('defect', { cameraId: 'cam-b' }), line.save('defect')];
      const reasons = saved.map((i) => (line.ctx.store.db.prepare('SELECT reason FROM upload_decisions WHERE inspection_id = ?').get(i.id) as { reason: string }).reason);
      // cam-a: first queued, second refused (queue holds 1), cam-b refused too, cam-a's third hits its cap (2 selections counted).
      expect(reasons).toEqual(['defect', 'queue-full', 'queue-full', 'queue-full']);
      expect(await metric(line, 'visor_upload_dropped_total')).toContain('visor_upload_dropped_total{reason="queue-full"} 3');
    } finally {
      await line.close();
      await azurite.start();
    }
    const capped = await startTestLine({ upload: { connectionString: azurite.connectionString, container: 'samples-cap', maxPerHourPerCamera: 2 } }, dataDir());
    try {
      const reasons = [capped.save('defect'), capped.save('uncertain'), capped.save('defect'), capped.save('defect', { cameraId: 'cam-b' })].map(
        (i) => (capped.ctx.store.db.prepare('SELECT reason FROM upload_decisions WHERE inspection_id = ?').get(i.id) as { reason: string }).reason,
      );
      expect(reasons).toEqual(['defect', 'uncertain', 'hourly-cap', 'defect']);
      await until('uploads', () => capped.upload.status().uploaded === 3);
    } finally {
      await capped.close();
    }
  });

  it('with bad credentials keeps the line storing, queues the samples, reports it in health and never logs the key', async () => {
    const wrongKey = Buffer.from('not the right key, not the right key, not the right key!').toString('base64');
    const connectionString = azurite.connectionString.replace(ACCOUNT_KEY, wrongKey);
    const { log, text } = capturingLogger();
    const line = await startTestLine({ upload: { connectionString, container: 'samples-auth' } }, dataDir(), { log });
    try {
      const saved = [line.save('defect'), line.save('uncertain')];
      await until('an auth failure', () => line.upload.status().lastErrorCode === 'UPLOAD_AUTH');
      expect(saved.every((i) => line.ctx.store.get(i.id) !== undefined)).toBe(true);
      const health = line.ctx.health.report().upload!;
      expect(health).toMatchObject({ ok: false, connected: false, queueDepth: 2, lastErrorCode: 'UPLOAD_AUTH' });
      expect(String(health.lastError)).toMatch(/refused the credentials \(403/);
      expect(await blobNames(azurite.container('samples-auth'))).toEqual([]);
      expect(text()).toContain('upload failed; will retry');
      for (const secret of [wrongKey, ACCOUNT_KEY, wrongKey.slice(0, 20)]) expect(text()).not.toContain(secret);
    } finally {
      await line.close();
    }
    await expect(startTestLine({ upload: { connectionString: azurite.connectionString, sasUrl: `${azurite.accountUrl}/x?sig=abc` } }, dataDir())).rejects.toThrow(
      /set only one of connectionString, sasUrl/,
    );
  });

  it('creates a missing container when allowed, else waits with a clear error until it exists', async () => {
    const created = await startTestLine({ upload: { connectionString: azurite.connectionString, container: 'made-on-demand' } }, dataDir());
    try {
      created.save('defect');
      await until('the upload', () => created.upload.status().uploaded === 1);
      expect(await blobNames(azurite.container('made-on-demand'))).toHaveLength(2);
    } finally {
      await created.close();
    }

    const line = await startTestLine({ upload: { accountName: 'devstoreaccount1', accountKey: ACCOUNT_KEY, accountUrl: azurite.accountUrl, container: 'not-there', createContainer: false } }, dataDir());
    try {
      line.save('defect');
      await until('a missing-container error', () => line.upload.status().lastErrorCode === 'UPLOAD_CONTAINER_MISSING');
      expect(line.ctx.health.report().upload).toMatchObject({ ok: false, queueDepth: 1, lastError: expect.stringContaining('the container does not exist') });
      await azurite.container('not-there').create();
      await until('the upload after the container appeared', () => line.upload.status().uploaded === 1, 10_000);
      expect(line.upload.status().queueDepth).toBe(0);
    } finally {
      await line.close();
    }
  });

  it('keeps queued images past retentionDays; the disk quota may take them, and each is counted and logged', async () => {
    const { log, text } = capturingLogger();
    const dayMs = 86_400_000;
    const line = await startTestLine(
      { upload: { connectionString: azurite.connectionString, container: 'samples-quota', okSampleFraction: 0 }, store: { retentionDays: 1, maxDiskMb: 0.02 } },
      dataDir(),
      { log },
    );
    await azurite.stop(); // an outage: nothing drains
    try {
      const old = Date.now() - 3 * dayMs;
      const queuedOld = line.save('defect', { capturedAt: old });
      const plainOld = line.save('ok', { capturedAt: old + 1 });
      await line.ctx.store.runRetention();
      expect(line.ctx.store.get(plainOld.id)).toBeUndefined();
      expect(line.ctx.store.get(queuedOld.id)?.imagePath).toBeTruthy();

      // Fill the 20 KB quota (about three fixture JPEGs) with newer defects: the oldest images go, queued or not.
      const newer = Array.from({ length: 6 }, (_, i) => line.save('defect', { capturedAt: Date.now() - 1000 + i }));
      const evicted = [queuedOld, ...newer].filter((i) => line.ctx.store.get(i.id)!.imagePath === undefined);
      expect(evicted.length).toBeGreaterThan(0);
      expect(text()).toMatch(/"awaitingUpload":[1-9]/);

      await azurite.start();
      await until('the queue to drain', () => line.upload.status().queueDepth === 0);
      expect(await metric(line, 'visor_upload_dropped_total')).toContain(`visor_upload_dropped_total{reason="quota"} ${evicted.length}`);
      expect(text()).toContain('the image was deleted by the disk quota before it was uploaded');
      const kept = [queuedOld, ...newer].filter((i) => !evicted.includes(i));
      expect(await blobNames(azurite.container('samples-quota'))).toHaveLength(kept.length * 2);
    } finally {
      await line.close();
      await azurite.start();
    }
  });
});
