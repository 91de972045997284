// `visor user` as a user runs it: a separate process on a config's database.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/review/index.js';
import { CLI } from '../helpers/paths.js';

let dir: string;
let config: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-user-cli-'));
  config = path.join(dir, 'line.yaml');
  await writeFile(config, ['cameras:', '  - id: cells', '    source: ./cells', 'store:', '  dataDir: ./data', ''].join('\n'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function visor(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(stdin ?? '');
  });
}

describe('visor user', () => {
  it('adds the first admin with a password from stdin, hashed with scrypt, and makes tokens', async () => {
    const add = await visor(['user', 'add', '--config', config, '--name', 'ada', '--role', 'admin', '--password-stdin'], 'correct horse battery\n');
    expect(add).toMatchObject({ code: 0, stdout: 'added admin ada\n' });
    const db = new Database(path.join(dir, 'data', 'visor.db'), { readonly: true });
    const row = db.prepare('SELECT role, password_hash FROM users WHERE name = ?').get('ada') as { role: string; password_hash: string };
    db.close();
    expect(row.role).toBe('admin');
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain('horse');
    expect(await verifyPassword('correct horse battery', row.password_hash)).toBe(true);

    const again = await visor(['user', 'add', '--config', config, '--name', 'ada', '--password-stdin'], 'another-password\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    const weak = await visor(['user', 'add', '--config', config, '--name', 'bob', '--password-stdin'], 'short\n');
    expect([weak.code, weak.stderr]).toEqual([1, expect.stringContaining('at least 8')]);
    expect((await visor(['user', 'add', '--config', config, '--name', 'bob', '--role', 'root', '--password-stdin'], 'long-enough\n')).code).toBe(2);

    const token = await visor(['user', 'token', '--config', config, '--name', 'ada', '--label', 'prometheus']);
    expect(token.stdout).toMatch(/^visor_[\w-]{40,}\n$/);
    expect((await visor(['user', 'list', '--config', config])).stdout).toBe('ada\tadmin\n');
  });
});
