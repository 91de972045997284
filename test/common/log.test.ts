// The logger every module gets: per-module levels, one of each key, ISO time, JSON or pretty lines.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createCamera } from '../../src/capture/index.js';
import { parseConfig } from '../../src/config/index.js';
import { LOG_MODULES, createLogger, type LogOptions } from '../../src/common/log.js';
import { FIXTURES, REPO } from '../helpers/paths.js';
import { until } from '../helpers/wait.js';

function capture(options: Omit<LogOptions, 'destination'> = {}, tty = false) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  if (tty) Object.assign(destination, { isTTY: true });
  return { log: createLogger({ ...options, destination }), lines };
}

/** JSON.parse keeps the last of two equal keys, so count keys in the raw text. */
const repeatedKeys = (line: string): string[] => {
  const keys = [...line.matchAll(/"([^"\\]+)":/g)].map((m) => m[1]!);
  return keys.filter((k, i) => keys.indexOf(k) !== i);
};

describe('createLogger', () => {
  it('logs a module at its level from log.modules and every other module at log.level', () => {
    const { log, lines } = capture({ level: 'info', modules: { capture: 'debug', store: 'warn' } });
    const cam = log.child({ module: 'capture', cameraId: 'a' });
    cam.debug('capture debug');
    // A child of a module's logger (per camera, per request) keeps the module's level.
    cam.child({ attempt: 2 }).debug('capture attempt debug');
    log.child({ module: 'pipeline' }).debug('pipeline debug');
    log.child({ module: 'pipeline' }).info('pipeline info');
    log.child({ module: 'store' }).info('store info');
    log.child({ module: 'store' }).warn('store warn');
    log.debug('root debug');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['capture debug', 'capture attempt debug', 'pipeline info', 'store warn']);
  });

  it('writes each bound key once, with the innermost value, when a child binds a key again', () => {
    const { log, lines } = capture();
    log.child({ module: 'line', cameraId: 'a' }).child({ module: 'capture', cameraId: 'a' }).child({ cameraId: 'b' }).info({ seq: 1 }, 'camera online');
    expect(repeatedKeys(lines[0]!)).toEqual([]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ module: 'capture', cameraId: 'b', seq: 1, msg: 'camera online' });
  });

  it('gives a capture line its module and camera once, even from a logger that named them already', async () => {
    const { log, lines } = capture({ level: 'debug' });
    const [config] = parseConfig({ cameras: [{ id: 'a', source: FIXTURES, fps: 20, fullResolution: false }] }).cameras;
    // As the composition root once wired it: a logger bound to the camera, handed to capture, which binds both again.
    const camera = createCamera({ config: config!, inferenceSize: { width: 64, height: 64 }, baseDir: FIXTURES, log: log.child({ module: 'capture', cameraId: 'a' }) });
    camera.start();
    try {
      await until('camera online', () => lines.some((l) => l.includes('camera online')));
    } finally {
      await camera.stop();
    }
    const captureLines = lines.filter((l) => l.includes('"module":"capture"'));
    expect(captureLines.length).toBeGreaterThanOrEqual(2);
    for (const line of captureLines) {
      expect(repeatedKeys(line), line).toEqual([]);
      expect(JSON.parse(line)).toMatchObject({ module: 'capture', cameraId: 'a' });
    }
  });

  it('knows every module the code names, so log.modules can set each of them', async () => {
    const named = new Set<string>();
    const files = (await readdir(path.join(REPO, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    for (const file of files) {
      for (const m of (await readFile(path.join(REPO, 'src', file), 'utf8')).matchAll(/\.child\(\{\s*module:\s*'([^']+)'/g)) named.add(m[1]!);
    }
    expect(named.size).toBeGreaterThanOrEqual(8);
    expect([...named].filter((m) => !(LOG_MODULES as readonly string[]).includes(m))).toEqual([]);
  });

  it('writes ISO times', () => {
    const { log, lines } = capture();
    log.info('x');
    const { time } = JSON.parse(lines[0]!) as { time: string };
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(time) - Date.now())).toBeLessThan(60_000);
  });

  it('writes JSON to a pipe and pretty lines to a terminal unless told otherwise, redacted either way', () => {
    const secret = 'rtsp://u:PW1@cam/s?token=TK1';
    const line = (format: LogOptions['format'], tty: boolean) => {
      const { log, lines } = capture({ format }, tty);
      log.child({ module: 'capture' }).warn({ source: secret }, 'camera source failed');
      // Without the terminal's colours.
      return lines.join('\n').replace(/\x1b\[[0-9;]*m/g, '');
    };
    const isJson = (text: string) => {
      try {
        return typeof JSON.parse(text) === 'object';
      } catch {
        return false;
      }
    };
    expect(isJson(line('auto', false))).toBe(true);
    expect(isJson(line('json', true))).toBe(true);
    for (const text of [line('auto', true), line('pretty', false)]) {
      expect(isJson(text)).toBe(false);
      expect(text).toMatch(/WARN/);
      expect(text).toContain('camera source failed');
      expect(text).toContain('module: "capture"');
    }
    for (const text of [line('auto', false), line('auto', true), line('pretty', false)]) {
      expect(text).not.toContain('PW1');
      expect(text).not.toContain('TK1');
    }
  });
});
