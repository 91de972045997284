// Progress of long commands when stderr is not a terminal: a line every few seconds, not silence.
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock, lineProgress } from '../../src/cli/progress.js';
import { CLI, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
const LINE = /^(.+) (\d+)\/(\d+), elapsed (\d+:\d\d), eta (\d+:\d\d|\?)$/;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-cli-progress-'));
});
afterAll(() => cleanup());

describe('progress lines', () => {
  it('prints at the start, then at most once per interval with the elapsed time and an eta, and at the end', () => {
    let t = 0;
    const out: string[] = [];
    const progress = lineProgress({ stream: { write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WritableStream, intervalMs: 5000, now: () => t })('features', 10);
    for (let i = 0; i < 10; i++) {
      t += 2000;
      progress.tick();
    }
    progress.stop();
    progress.stop();
    expect(out).toEqual([
      'features 0/10, elapsed 0:00, eta ?\n',
      // 6 s: 3 done in 6 s, 7 to go at 2 s each.
      'features 3/10, elapsed 0:06, eta 0:14\n',
      'features 6/10, elapsed 0:12, eta 0:08\n',
      'features 9/10, elapsed 0:18, eta 0:02\n',
      'features 10/10, elapsed 0:20, eta 0:00\n',
    ]);
    expect(clock(3_725_000)).toBe('1:02:05');
  });

  it('visor fit with stderr piped prints progress lines and keeps stdout JSON', async () => {
    const good = path.join(dir, 'good');
    await mkdir(good);
    for (const f of (await readdir(FIXTURES)).filter((n) => n.endsWith('.png'))) await cp(path.join(FIXTURES, f), path.join(good, f));
    // execFile pipes stdout and stderr: neither is a terminal. A short interval, so a fit of seconds shows lines between start and end.
    const { stdout, stderr } = await exec(process.execPath, [...CLI, 'fit', '--good', good, '--out', path.join(dir, 'model'), '--threads', '1', '--no-search'], {
      timeout: 120_000,
      env: { ...process.env, VISOR_PROGRESS_SECONDS: '0.01' },
    });
    expect(() => JSON.parse(stdout)).not.toThrow();
    const lines = stderr.split('\n').filter((l) => LINE.test(l));
    const features = lines.map((l) => LINE.exec(l)!).filter((m) => m[1] === 'features');
    const total = Number(features[0]![3]);
    expect(total).toBeGreaterThanOrEqual(10);
    expect(features[0]![2]).toBe('0');
    expect(features.at(-1)![2]).toBe(String(total));
    expect(features.some((m) => Number(m[2]) > 0 && Number(m[2]) < total)).toBe(true);
    // No cursor movement or carriage returns: the bar is for terminals only.
    expect(stderr).not.toMatch(/\r|\x1b\[/);
  });
});
