// edgeAgent stops modules with SIGTERM. Visor must store the frame in flight and keep
// every undelivered event for the next start, then exit cleanly.
import { spawn } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newKey, startFakeHub, type FakeHub } from '../events/fake-hub.js';
import { lineConfig, tempDir, until, writeCa } from '../events/helpers.js';
import { CLI } from '../helpers/paths.js';

let hub: FakeHub;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-sigterm-'));
  hub = await startFakeHub({ identities: { edge1: newKey() } });
});

afterAll(async () => {
  await hub?.close();
  await cleanup?.();
});

it('on SIGTERM during an outage: stores what it logged, keeps the outbox, exits 0; the next start delivers it all', async () => {
  const config = lineConfig(dir, { connectionString: hub.connectionString('edge1'), caFile: await writeCa(dir, hub.ca) });
  const configFile = path.join(dir, 'visor.json');
  // Each inspection is logged at debug ("inspection stored"): the pipeline's level is raised to see them.
  await writeFile(configFile, JSON.stringify({ ...config, log: { level: 'info', modules: { pipeline: 'debug' } } }));
  await hub.pause();

  const child = spawn(process.execPath, [...CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stored: string[] = [];
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const m of out.matchAll(/"inspectionId":"([0-9a-f-]{36})"/g)) if (!stored.includes(m[1]!)) stored.push(m[1]!);
  });
  await until('several defects stored while the hub is down', () => stored.length >= 6, 40_000);
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  expect(code).toBe(0);

  const dbFile = path.join(dir, 'data', 'visor.db');
  await expect(access(`${dbFile}-wal`)).rejects.toThrow(); // closed cleanly: WAL checkpointed and removed
  const db = new Database(dbFile, { readonly: true });
  const inspections = new Set(db.prepare('SELECT id FROM inspections').pluck().all() as string[]);
  const outbox = db.prepare('SELECT inspection_id FROM events_outbox ORDER BY seq').pluck().all() as string[];
  db.close();
  for (const id of stored) expect(inspections.has(id)).toBe(true);
  // Every stored defect (the thresholds make every frame one) is still waiting in the outbox.
  expect(new Set(outbox)).toEqual(inspections);

  await hub.resume();
  const again = spawn(process.execPath, [...CLI, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await until('every kept event delivered', () => outbox.every((id) => hub.telemetry.some((m) => m.messageId === id)), 40_000);
  } finally {
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
  }
});
