// `visor model init` / `visor model check` as a user runs them: separate processes, real files,
// the exit codes of the CLI (0 ok, 1 the check found mistakes, 2 bad usage or a package that cannot load).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVisor as visor } from '../helpers/cli.js';
import { tempDirs } from '../inference/helpers.js';
import { customVisionGraph, yolov8Graph } from '../inference/exports.js';

const dirs = tempDirs();
let dir: string;
beforeAll(async () => {
  dir = await dirs.make('visor-cli-model-');
});
afterAll(() => dirs.cleanup());


describe('visor model init and check', () => {
  it('turns a YOLO export into a package, field by field, and checks it clean', async () => {
    const onnx = path.join(dir, 'parts.onnx');
    await writeFile(onnx, yolov8Graph([{ cx: 32, cy: 32, w: 16, h: 16, cls: 1 }], ['good', 'crack']));
    const out = path.join(dir, 'parts');
    const init = await visor(['model', 'init', '--onnx', onnx, '--out', out]);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/yolo export → .*parts \(task detection\)/);
    expect(init.stdout).toMatch(/inferred\s+detection\.format\s+yolov8/);
    expect(init.stdout).toMatch(/default\s+version\s+1\.0\.0/);
    const manifest = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as { labels: string[] };
    expect(manifest.labels).toEqual(['good', 'crack']);

    const check = await visor(['model', 'check', out]);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('output0 [1,6,1]');
    expect(check.stdout).toContain('no problems found');
  });

  it('exits 1 when check finds a mistake, 2 when the package cannot load or the usage is wrong', async () => {
    const onnx = path.join(dir, 'cv', 'model.onnx');
    await mkdir(path.dirname(onnx), { recursive: true });
    await writeFile(onnx, customVisionGraph(['good', 'crack']));
    const out = path.join(dir, 'cv-package');
    expect((await visor(['model', 'init', '--onnx', onnx, '--out', out])).code).toBe(0);
    const jsonFile = path.join(out, 'model.json');
    const manifest = JSON.parse(await readFile(jsonFile, 'utf8')) as { input: { channels: string } };
    manifest.input.channels = 'RGB';
    await writeFile(jsonFile, JSON.stringify(manifest));
    const wrong = await visor(['model', 'check', out]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('error: input.channels is "RGB" but the Custom Vision export takes BGR');

    const missing = await visor(['model', 'check', path.join(dir, 'nothing-here')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/model package folder .*nothing-here does not exist/);
    const again = await visor(['model', 'init', '--onnx', onnx, '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists already');
    const badFrom = await visor(['model', 'init', '--onnx', onnx, '--out', path.join(dir, 'x'), '--from', 'keras']);
    expect(badFrom.code).toBe(2);
    expect(badFrom.stderr).toContain('expected one of anomalib, yolo, customvision, geti, generic');
  });
});
