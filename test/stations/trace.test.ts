// Traceability: the part id of a triggered station travels with its views into the IoT Hub
// event (application property + body, here through the local sink) and the Blob sidecar
// (Azurite).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIotHubExtensions } from '../../src/app.js';
import { createUploadExtension } from '../../src/upload/index.js';
import { FIXTURES } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';
import { readJsonBlob } from '../upload/helpers.js';
import { startAzurite, type Azurite } from '../upload/azurite.js';
import { startStationLine, type StationLine } from './helpers.js';

describe('the part id on the way out', () => {
  let azurite: Azurite;
  let line: StationLine;

  beforeAll(async () => {
    azurite = await startAzurite();
    line = await startStationLine({
      review: false,
      // Every frame a defect: each becomes an event and an upload.
      cameras: [{ id: 'cells', source: FIXTURES, fps: 5, fullResolution: false, thresholds: { defect: 0, uncertainBand: 0 } }],
      stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000 }],
      extra: { upload: { enabled: true, connectionString: azurite.connectionString, container: 'parts', line: 'line-1', backoffInitialMs: 50, backoffMaxMs: 300 } },
      extensions: [createUploadExtension, createIotHubExtensions],
    });
  }, 60_000);
  afterAll(async () => {
    await line?.stop();
    await azurite?.dispose();
  });

  it('puts partId in the event properties and body, and in the sidecar; other inspections carry none', async () => {
    const result = await line.app.triggers.trigger('st1', 'TRACE-7', 'test');
    expect(result).toMatchObject({ verdict: 'ng', resultCode: 1 });
    const viewId = result.views.cells!;

    const sink = path.join(line.app.store.dataDir, 'events.jsonl');
    const events = await until('the view\'s event in the local sink', async () => {
      const lines = (await readFile(sink, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { messageId: string; properties: Record<string, string>; body: Record<string, unknown> });
      return lines.some((e) => e.messageId === viewId) && lines.length >= 2 ? lines : undefined;
    });
    const event = events.find((e) => e.messageId === viewId)!;
    expect(event.properties).toMatchObject({ eventType: 'defect', cameraId: 'cells', partId: 'TRACE-7' });
    expect(event.body).toMatchObject({ inspectionId: viewId, partId: 'TRACE-7' });
    const other = events.find((e) => e.messageId !== viewId)!;
    expect(other.properties.partId).toBeUndefined();

    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('parts');
    const sidecarName = await until('the view\'s sidecar uploaded', async () => {
      for await (const blob of container.listBlobsFlat()) if (blob.name.endsWith(`${viewId}.json`)) return blob.name;
      return undefined;
    });
    const sidecar = await readJsonBlob(container.getBlobClient(sidecarName));
    expect(sidecar).toMatchObject({ inspectionId: viewId, part: { partId: 'TRACE-7', stationId: 'st1' } });
  });
});
