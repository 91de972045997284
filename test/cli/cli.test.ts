// The `visor` command as a user runs it: separate processes, real files.
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/inference/decision.js';
import type { Thresholds } from '../../src/common/types.js';
import { CLI, DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { fixtureScores } from '../helpers/scores.js';
import { until } from '../helpers/wait.js';
import { runVisor as visor } from '../helpers/cli.js';


let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function inspectionsIn(dbFile: string): number {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM inspections').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created yet
  }
}


describe('visor config check', () => {
  it('prints every error by key path and exits non-zero', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, ['cameras:', '  - id: Line 1', '    source: ""', '    fps: -3', 'review:', '    port: http', 'store:', '  quota: 5', ''].join('\n'));
    const { code, stderr } = await visor(['config', 'check', '--config', file]);
    expect(code).toBe(2);
    for (const key of ['cameras[0].id', 'cameras[0].source', 'cameras[0].fps', 'review.port', 'store.quota']) expect(stderr).toContain(`${key}: `);
  });

  it('passes a good file and reports environment overrides that break it', async () => {
    const file = path.join(dir, 'good.yaml');
    await writeFile(file, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\n`);
    expect(await visor(['config', 'check', '--config', file])).toMatchObject({ code: 0, stdout: expect.stringContaining('ok (1 camera)') });
    const broken = await visor(['config', 'check', '--config', file], { VISOR_CAMERAS__0__FPS: '0' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('cameras[0].fps: ');
  });

  it('reports an unknown override and an invalid value in the file together', async () => {
    const file = path.join(dir, 'two.yaml');
    await writeFile(file, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\n    fps: 0\n`);
    const { code, stderr } = await visor(['config', 'check', '--config', file], { VISOR_STORE__BOGUS: '1' });
    expect(code).toBe(2);
    expect(stderr).toContain('VISOR_STORE__BOGUS: no such setting (store.bogus)');
    expect(stderr).toContain('cameras[0].fps: ');
  });

  it('fails what start-up would refuse: a missing model package, an unavailable execution provider, an uncertain band wider than the threshold', async () => {
    const missing = path.join(dir, 'missing.yaml');
    await writeFile(missing, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\nmodel:\n  package: ./no-such-model\n  executionProviders: [coreml]\n`);
    const first = await visor(['config', 'check', '--config', missing]);
    expect(first.code).toBe(2);
    expect(first.stderr).toContain(`model.package: model package folder ${path.join(dir, 'no-such-model')} does not exist`);
    expect(first.stderr).toMatch(/model\.executionProviders: execution provider "coreml" .*is not available on this platform/);

    const band = path.join(dir, 'band.yaml');
    await writeFile(band, `cameras:\n  - id: line-1\n    source: ${FIXTURES}\n    thresholds: { defect: 0.5, uncertainBand: 0.9 }\nmodel:\n  package: ${DEMO_MODEL}\n`);
    const second = await visor(['config', 'check', '--config', band]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('cameras[0].thresholds: uncertainBand 0.9 (cameras[0].thresholds) is larger than the defect threshold 0.5');
  });

  it('fails a recipe whose model package is missing, before a changeover would find it', async () => {
    const file = path.join(dir, 'recipes.yaml');
    const station = ['stations:', '  - id: st1', '    cameras: [line-1]', '    recipes:', '      - { index: 0 }', `      - { index: 1, model: ${DEMO_MODEL} }`, '      - { index: 2, model: ./no-such-recipe-model }'];
    await writeFile(file, [`cameras:\n  - id: line-1\n    source: ${FIXTURES}`, `model:\n  package: ${DEMO_MODEL}`, ...station, ''].join('\n'));
    const { code, stderr } = await visor(['config', 'check', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`stations[0].recipes[2].model: model package folder ${path.join(dir, 'no-such-recipe-model')} does not exist`);
    expect(stderr).not.toContain('recipes[1]');
  });
});

describe('visor inspect', () => {
  it('prints one JSON line per image with verdict, score and timings', async () => {
    // One cell of each verdict under the shipped thresholds, by what the model scores in process.
    const { thresholds } = JSON.parse(await readFile(path.join(DEMO_MODEL, 'model.json'), 'utf8')) as { thresholds: Thresholds };
    const scores = await fixtureScores();
    const expected = (['ok', 'uncertain', 'defect'] as const).map((verdict) => {
      const file = [...scores.keys()].find((f) => decide(scores.get(f)!, thresholds) === verdict);
      if (!file) throw new Error(`no fixture cell is ${verdict} under ${JSON.stringify(thresholds)}`);
      return { file: path.join(FIXTURES, file), verdict, score: scores.get(file)! };
    });
    const { code, stdout } = await visor(['inspect', '--model', DEMO_MODEL, ...expected.map((e) => e.file)]);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; verdict: string; score: number; thresholds: Thresholds; timings: { inferenceMs: number } });
    expect(lines.map((l) => [l.file, l.verdict])).toEqual(expected.map((e) => [e.file, e.verdict]));
    lines.forEach((line, i) => {
      expect(line.score).toBeCloseTo(expected[i]!.score, 5);
      expect(line.thresholds).toEqual({ defect: thresholds.defect, uncertainBand: thresholds.uncertainBand });
      expect(line.timings.inferenceMs).toBeGreaterThan(0);
    });
  });

  it('reports an unreadable image on its line, goes on, and exits 1', async () => {
    const broken = path.join(dir, 'broken.png');
    await writeFile(broken, (await readFile(path.join(FIXTURES, 'cell0480.png'))).subarray(0, 200));
    const { code, stdout } = await visor(['inspect', '--model', DEMO_MODEL, broken, path.join(FIXTURES, 'cell0480.png')]);
    expect(code).toBe(1);
    const [first, second] = stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: string; verdict?: string });
    expect(first!.error).toBeTruthy();
    expect(second!.verdict).toBeTruthy();
  });
});

describe('visor run', () => {
  it('refuses at start-up a model package whose file does not match its manifest', async () => {
    const model = path.join(dir, 'tampered-model');
    await cp(DEMO_MODEL, model, { recursive: true });
    const onnx = await readFile(path.join(model, 'model.onnx'));
    onnx[onnx.length - 1] ^= 0xff;
    await writeFile(path.join(model, 'model.onnx'), onnx);
    const file = path.join(dir, 'tampered.yaml');
    await writeFile(file, `cameras:\n  - id: a\n    source: ${FIXTURES}\nmodel:\n  package: ${model}\nstore:\n  dataDir: ${path.join(dir, 'tampered-data')}\nreview:\n  enabled: false\n`);
    const { code, stderr } = await visor(['run', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/sha256/);
  });

  it('killed with SIGKILL, leaves a database holding every inspection it logged as stored', async () => {
    const data = path.join(dir, 'crash-data');
    const file = path.join(dir, 'crash.yaml');
    // Each inspection is logged at debug: the pipeline's level is raised to see them.
    await writeFile(file, `cameras:\n  - id: a\n    source: ${FIXTURES}\n    fps: 20\nstore:\n  dataDir: ${data}\n  okSampleFraction: 1\nreview:\n  port: 0\nlog:\n  modules: { pipeline: debug }\n`);
    const child = spawn(process.execPath, [...CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const logged: string[] = [];
    let buffer = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${logged.length} inspections logged; stderr: ${stderr}`)), 45_000);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const entry = JSON.parse(line) as { msg: string; level: number; inspectionId?: string };
          if (entry.msg === 'inspection stored') {
            expect(entry.level).toBe(20);
            logged.push(entry.inspectionId!);
          }
        }
        if (logged.length >= 15) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Kill the whole process group at once, mid-run.
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const db = new Database(path.join(data, 'visor.db'));
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const ids = new Set((db.prepare('SELECT id FROM inspections').all() as { id: string }[]).map((r) => r.id));
      for (const id of logged) expect(ids.has(id), `inspection ${id} was logged as stored`).toBe(true);
    } finally {
      db.close();
    }
  });

  it('stops cleanly on SIGTERM: exit 0, database closed; logs each inspection at debug, not at info', async () => {
    const data = path.join(dir, 'term-data');
    const file = path.join(dir, 'term.yaml');
    await writeFile(file, `cameras:\n  - id: a\n    source: ${FIXTURES}\n    fps: 10\nstore:\n  dataDir: ${data}\nreview:\n  port: 0\n`);
    const child = spawn(process.execPath, [...CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('three inspections stored', () => inspectionsIn(path.join(data, 'visor.db')) >= 3, 45_000, 200);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number; inspected?: number });
    expect(lines.find((l) => l.msg === 'stopped')?.inspected).toBeGreaterThanOrEqual(3);
    // At the default level (info) the log has the line's life, not a line per frame.
    expect(lines.filter((l) => l.msg === 'inspection stored')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'model loaded')).toHaveLength(1);
    // A cleanly closed WAL database leaves no -wal file behind.
    await expect(readFile(path.join(data, 'visor.db-wal'))).rejects.toThrow(/ENOENT/);
  });
});
