// One exit-code scheme for every command (0 ok, 1 runtime failure, 2 usage or config error),
// and `visor inspect` on folders with --out, as a user runs them: separate processes.
import { mkdtempSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { fixtureScores } from '../helpers/scores.js';
import { runVisor as visor } from '../helpers/cli.js';


// Made before the tests are collected: the cases below name files in it.
const dir = mkdtempSync(path.join(os.tmpdir(), 'visor-cli-exit-'));
afterAll(() => rm(dir, { recursive: true, force: true }));


/** A Node stack frame line: what a user must not get for a bad input. */
const STACK = /^\s+at .+[:(]/m;
const CELL = path.join(FIXTURES, 'cell0480.png');

describe('exit codes', () => {
  // One process per case: each start of the CLI from source takes seconds on a busy machine.
  it.each([
    [['inspect', '--model', DEMO_MODEL, '--threads', 'abc', CELL], /--threads.*"abc"/],
    [['inspect', '--model', DEMO_MODEL, '--threads', '1.5', CELL], /--threads.*"1\.5"/],
    [['eval', '--model', DEMO_MODEL, '--data', dir, '--worst', '-1'], /--worst.*"-1"/],
    [['fit', '--good', dir, '--out', dir, '--top-k', 'ten'], /--top-k.*"ten"/],
    [['dataset', 'pull', '--out', dir, '--container', 'x', '--concurrency', '0'], /--concurrency.*"0"/],
    [['inspect', CELL], /required option '-m, --model <dir>'/],
    [['inspect', '--model', DEMO_MODEL, '--bogus', CELL], /unknown option '--bogus'/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['inspect', '--model', DEMO_MODEL, path.join(dir, 'not-there.png')], /not-there\.png: no such file or folder/],
    [['fit', '--good', dir, '--out', dir, '--resize', 'squash'], /--resize must be one of/],
  ] as const)('exits 2 with a message naming what is wrong: visor %j', async (args, message) => {
    const r = await visor([...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(STACK);
  });

  it('exits 0 for --help and --version', async () => {
    expect((await visor(['--help'])).code).toBe(0);
    expect(await visor(['--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect((await visor(['inspect', '--help'])).code).toBe(0);
  });

  it('visor inspect with a bad model package prints the message, no stack trace, and exits 2', async () => {
    const broken = path.join(dir, 'broken-model');
    await cp(DEMO_MODEL, broken, { recursive: true });
    await writeFile(path.join(broken, 'model.json'), '{ "name": "cells", ');
    const missing = path.join(dir, 'no-model-here');
    for (const model of [broken, missing]) {
      const r = await visor(['inspect', '--model', model, CELL]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^visor inspect: .+/);
      expect(r.stderr).toContain(path.basename(model));
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stdout).toBe('');
    }
  });
});

describe('visor inspect on folders', () => {
  it('scores the image files of a folder at any depth and writes an overlay per image and inspect.csv with --out', async () => {
    const root = path.join(dir, 'batch');
    const names = ['cell0480.png', 'cell0020.png', 'cell0030.png'];
    await mkdir(path.join(root, 'shift-2', 'station-3'), { recursive: true });
    await cp(path.join(FIXTURES, names[0]!), path.join(root, names[0]!));
    await cp(path.join(FIXTURES, names[1]!), path.join(root, 'shift-2', names[1]!));
    await cp(path.join(FIXTURES, names[2]!), path.join(root, 'shift-2', 'station-3', names[2]!));
    await writeFile(path.join(root, 'shift-2', 'notes.txt'), 'not an image');
    const out = path.join(dir, 'batch-out');

    const r = await visor(['inspect', '--model', DEMO_MODEL, '--out', out, root]);
    expect(r.code).toBe(0);
    const scores = await fixtureScores();
    const { thresholds } = JSON.parse(await readFile(path.join(DEMO_MODEL, 'model.json'), 'utf8')) as { thresholds: { defect: number } };

    const [header, ...rows] = (await readFile(path.join(out, 'inspect.csv'), 'utf8')).trim().split('\n');
    expect(header).toBe('path,verdict,score,label,threshold,ms,overlay,error');
    expect(rows).toHaveLength(3);
    const parsed = rows.map((row) => {
      const [file, verdict, score, label, threshold, ms, overlay, error] = row.split(',');
      return { file: file!, verdict, score: Number(score), label, threshold: Number(threshold), ms: Number(ms), overlay: overlay!, error };
    });
    expect(parsed.map((p) => path.basename(p.file)).sort()).toEqual([...names].sort());
    for (const p of parsed) {
      expect(p.score).toBeCloseTo(scores.get(path.basename(p.file))!, 5);
      expect(['ok', 'uncertain', 'defect']).toContain(p.verdict);
      expect(p.threshold).toBe(thresholds.defect);
      expect(p.ms).toBeGreaterThan(0);
      expect(p.error).toBe('');
      // The overlay keeps the folder structure below the folder given, and is an image of the cell's size.
      expect(p.overlay).toBe(path.join('overlays', path.relative(path.dirname(root), p.file)).replace(/\.png$/, '.jpg'));
      const meta = await sharp(path.join(out, p.overlay)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 300, 300]);
    }
    expect((await readdir(path.join(out, 'overlays', 'batch', 'shift-2'))).sort()).toEqual(['cell0020.jpg', 'station-3']);
    // stdout keeps one JSON line per image for scripts.
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { overlay: string }).overlay).sort()).toEqual(parsed.map((p) => p.overlay).sort());
  });

  it('refuses a folder without images, naming it (exit 2)', async () => {
    const empty = path.join(dir, 'no-images');
    await mkdir(empty);
    await writeFile(path.join(empty, 'readme.txt'), 'x');
    const r = await visor(['inspect', '--model', DEMO_MODEL, empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no image files`);
    expect(r.stderr).toContain(empty);
  });
});
