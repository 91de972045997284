// SIGKILL a `visor run` with undelivered events (hub down), start it again: every event
// that was in the outbox at the kill is delivered once the hub is back.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../helpers/paths.js';
import { newKey, startFakeHub, type FakeHub } from './fake-hub.js';
import { lineConfig, tempDir, until, writeCa } from './helpers.js';

let hub: FakeHub;
let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];

function run(configFile: string): ChildProcess {
  const child = spawn(process.execPath, [...CLI, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

function pendingIds(dbFile: string): string[] | undefined {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      return db.prepare<[], { inspection_id: string }>('SELECT inspection_id FROM events_outbox ORDER BY seq').all().map((r) => r.inspection_id);
    } finally {
      db.close();
    }
  } catch {
    return undefined; // not created or not migrated yet
  }
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-events-crash-'));
  hub = await startFakeHub({ identities: { line7: newKey() } });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await hub?.close();
  await cleanup?.();
});

it('delivers every event after SIGKILL during an outage and a restart', async () => {
  const config = lineConfig(dir, { connectionString: hub.connectionString('line7'), caFile: await writeCa(dir, hub.ca) });
  const configFile = path.join(dir, 'visor.json');
  await writeFile(configFile, JSON.stringify({ ...config, log: { level: 'warn' } }));
  const dbFile = path.join(dir, 'data', 'visor.db');

  await hub.pause();
  const first = run(configFile);
  await until('5 undelivered events', () => (pendingIds(dbFile)?.length ?? 0) >= 5, 40_000);
  first.kill('SIGKILL');
  await exited(first);
  const undelivered = pendingIds(dbFile)!;
  expect(undelivered.length).toBeGreaterThanOrEqual(5);
  expect(hub.telemetry).toHaveLength(0);

  await hub.resume();
  const second = run(configFile);
  await until('all delivered', () => undelivered.every((id) => hub.telemetry.some((m) => m.messageId === id)), 40_000);
  const firstArrivals = [...new Set(hub.telemetry.map((m) => m.messageId))].filter((id) => undelivered.includes(id!));
  expect(firstArrivals).toEqual(undelivered);
  second.kill('SIGTERM');
  await exited(second);
  expect(second.exitCode).toBe(0);
});
