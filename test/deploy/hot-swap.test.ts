// Model roll-out through the module twin: a new package served over HTTP is downloaded,
// verified, warmed up and swapped in between frames; a corrupted one is refused, reported and
// not fetched again; one whose download failed for a moment is tried again until it applies.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Inspection } from '../../src/common/types.js';
import { newKey, startFakeHub, type FakeHub } from '../events/fake-hub.js';
import { startLine, tempDir, until, writeCa } from '../events/helpers.js';
import { DEMO_MODEL } from '../helpers/paths.js';

let hub: FakeHub;
let server: Server;
let base: string;
let dir: string;
let cleanup: () => Promise<void>;
let app: App;
const files = new Map<string, Buffer>();
/** Requests per path, and how many of the first requests of a path fail with 503. */
const requests = new Map<string, number>();
const unavailableFor = new Map<string, number>();
const seen: Inspection[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-hot-swap-'));
  // v2: the same graph under a new version; bad: a package whose model.onnx was corrupted in transit.
  const manifest = JSON.parse(await readFile(path.join(DEMO_MODEL, 'model.json'), 'utf8'));
  const onnx = await readFile(path.join(DEMO_MODEL, 'model.onnx'));
  files.set('/v2/model.json', Buffer.from(JSON.stringify({ ...manifest, version: '0.2.0' })));
  files.set('/v2/model.onnx', onnx);
  files.set('/bad/model.json', Buffer.from(JSON.stringify({ ...manifest, version: '0.3.0' })));
  const corrupt = Buffer.from(onnx);
  corrupt[corrupt.length >> 1] ^= 0xff;
  files.set('/bad/model.onnx', corrupt);
  // flaky: a good package behind a server that is unavailable for its first two requests.
  files.set('/flaky/model.json', Buffer.from(JSON.stringify({ ...manifest, version: '0.4.0' })));
  files.set('/flaky/model.onnx', onnx);
  unavailableFor.set('/flaky/model.json', 2);
  server = createServer((req, res) => {
    const pathname = new URL(req.url!, 'http://x').pathname;
    const n = (requests.get(pathname) ?? 0) + 1;
    requests.set(pathname, n);
    if (n <= (unavailableFor.get(pathname) ?? 0)) return void res.writeHead(503).end();
    const body = files.get(pathname);
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  hub = await startFakeHub({ identities: { edge1: newKey() } });
  // Every frame an ok frame at 10 fps: the model is far faster, so no frame is ever dropped.
  app = await startLine(dir, { connectionString: hub.connectionString('edge1'), caFile: await writeCa(dir, hub.ca) }, { defect: 1000 });
  app.bus.on('inspection', ({ inspection }) => seen.push(inspection));
  await until('connected', () => hub.isConnected('edge1'));
  await until('a few inspections', () => seen.length >= 3);
});

afterAll(async () => {
  await app?.stop();
  await hub?.close();
  await new Promise((r) => server?.close(r));
  await cleanup?.();
});

const sha = (name: string) => createHash('sha256').update(files.get(name)!).digest('hex');

describe('model hot swap from the twin', () => {
  it('downloads, verifies and swaps a new package between frames, without losing a frame, and reports it', async () => {
    const before = seen.length;
    hub.patchDesired('edge1', { model: { url: `${base}/v2/model.json`, sha256: sha('/v2/model.json') } });
    await until('the new model reported', () => hub.reported('edge1').model?.version === '0.2.0', 30_000);
    await until('inspections on the new model', () => seen.filter((i) => i.model.version === '0.2.0').length >= 3);

    const around = seen.slice(before);
    // Every frame the camera delivered was inspected: sequence numbers have no gap across the swap.
    const seqs = around.map((i) => i.frameSeq);
    expect(seqs.slice(1).every((s, i) => s === seqs[i]! + 1)).toBe(true);
    expect(app.cameras[0]!.status().framesDropped).toBe(0);
    // Old model until the swap, new model after it: never back.
    const firstNew = around.findIndex((i) => i.model.version === '0.2.0');
    expect(around.slice(firstNew).every((i) => i.model.version === '0.2.0')).toBe(true);
    expect(hub.reported('edge1').modelUpdate).toMatchObject({ status: 'applied', sha256: sha('/v2/model.json') });
  });

  it('refuses a corrupted download, keeps the running model and reports why', async () => {
    hub.patchDesired('edge1', { model: { url: `${base}/bad/model.json`, sha256: sha('/bad/model.json') } });
    await until('the refusal reported', () => hub.reported('edge1').modelUpdate?.status === 'rejected', 30_000);
    expect(hub.reported('edge1').modelUpdate.error).toMatch(/sha256|hash/i);
    expect(hub.reported('edge1').model.version).toBe('0.2.0');
    const after = seen.length;
    await until('more inspections', () => seen.length >= after + 3);
    expect(seen.slice(after).every((i) => i.model.version === '0.2.0')).toBe(true);
  });

  it('does not fetch a refused package again, on later patches either', async () => {
    const fetched = requests.get('/bad/model.onnx');
    expect(fetched).toBe(1);
    const version = hub.patchDesired('edge1', { thresholds: { defect: 999 } });
    await until('the patch applied', () => hub.reported('edge1').config?.version === version);
    // Well beyond the events backoff of the test line (100 ms doubling to 500 ms).
    await new Promise((r) => setTimeout(r, 2000));
    expect([requests.get('/bad/model.json'), requests.get('/bad/model.onnx')]).toEqual([1, 1]);
    expect(hub.reported('edge1').modelUpdate).toMatchObject({ status: 'rejected', sha256: sha('/bad/model.json') });
  });

  it('tries a package whose download failed for a moment again, with backoff, until it applies', async () => {
    hub.patchDesired('edge1', { model: { url: `${base}/flaky/model.json`, sha256: sha('/flaky/model.json') } });
    await until('the new model reported', () => hub.reported('edge1').model?.version === '0.4.0', 30_000);
    expect(requests.get('/flaky/model.json')).toBe(3);
    expect(hub.reported('edge1').modelUpdate).toMatchObject({ status: 'applied', sha256: sha('/flaky/model.json') });
    expect(hub.reported('edge1').modelUpdate.retryAt).toBeUndefined();
    await until('inspections on the new model', () => seen.filter((i) => i.model.version === '0.4.0').length >= 2);
  });
});
