import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEnvOverrides, configReference, loadConfig, parseConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/common/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visor-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills every default from the schema', () => {
    const config = parseConfig({ cameras: [{ id: 'cam-1', source: 'rtsp://10.0.0.5/stream' }] });
    expect(config.cameras[0]).toMatchObject({ kind: 'auto', rtspTransport: 'tcp', fps: 5, loop: true, watchdog: { stallSeconds: 10, backoffMaxMs: 30000 } });
    expect(config.model).toEqual({ package: 'models/elpv-cells', executionProviders: ['cpu'], threads: 0, worker: true });
    expect(config.review).toEqual({
      enabled: true,
      host: '127.0.0.1',
      port: 8080,
      allowedHosts: [],
      auth: {
        sessionTtlHours: 12,
        secureCookies: 'auto',
        trustProxy: false,
        firstAdminSetup: true,
        loginAttemptsPerMinute: 10,
        loginBackoffMaxSeconds: 60,
        maxEventStreamsPerUser: 8,
        publicMetrics: false,
      },
      shifts: ['06:00', '14:00', '22:00'],
      thresholdConfirmChange: 0.25,
    });
    expect(config.store.retentionDays).toBe(30);
    expect(config.events.outputName).toBe('defects');
    expect(config.upload.enabled).toBe(false);
  });

  it('lists every error with its key path at once', () => {
    const issues = issuesOf(() =>
      parseConfig({
        cameras: [
          { id: 'Cam A', source: 'x', fps: 0, colour: 'red' },
          { id: 'b', source: 'y', roi: { x: 0.5, y: 0, width: 0.8, height: 1 } },
          { id: 'b', source: 'z' },
        ],
        review: { port: 70000, allowedHosts: ['visor.plant.example', 'https://visor.plant.example/'] },
        store: { retentionDays: -1 },
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^cameras\[0\]\.id: /),
        expect.stringMatching(/^cameras\[0\]\.fps: /),
        expect.stringMatching(/^cameras\[0\]\.colour: Unexpected property/),
        expect.stringMatching(/^review\.port: /),
        expect.stringMatching(/^review\.allowedHosts\[1\]: /),
        expect.stringMatching(/^store\.retentionDays: /),
      ]),
    );
  });

  // The review UI may bind beyond loopback now that it requires sign-in (src/review/auth.ts).
  it('checks what the schema cannot: unique ids, ROI inside the frame', () => {
    const issues = issuesOf(() =>
      parseConfig({
        cameras: [
          { id: 'b', source: 'y', roi: { x: 0.5, y: 0, width: 0.8, height: 1 } },
          { id: 'b', source: 'z' },
        ],
        review: { host: '0.0.0.0' },
      }),
    );
    expect(issues).toEqual([
      'cameras[0].roi: x + width must be at most 1',
      'cameras[1].id: "b" is already used by cameras[0]',
    ]);
  });

  it('takes camera credentials from the URL or from username/password, not both; a password needs a username', () => {
    const issues = issuesOf(() =>
      parseConfig({
        cameras: [
          { id: 'a', source: 'http://admin:pw@cam/snap.jpg', username: 'admin', password: 'pw' },
          { id: 'b', source: 'rtsp://cam/live', password: 'pw' },
          { id: 'c', source: 'http://cam/snap.jpg', username: 'admin', password: 'pw' },
        ],
      }),
    );
    expect(issues).toEqual([
      'cameras[0].username: the source URL carries credentials too (user@ or user:password@); give them in one place',
      'cameras[1].password: needs cameras[1].username',
    ]);
  });

  it('takes the text of a string setting from the environment as is (a password of digits stays a string)', async () => {
    const file = path.join(dir, 'creds.yaml');
    await writeFile(file, 'cameras:\n  - id: a\n    source: http://cam/snap.jpg\n    username: admin\n');
    const { config } = loadConfig(file, { VISOR_CAMERAS__0__PASSWORD: '123456', VISOR_CAMERAS__0__FPS: '2' });
    expect(config.cameras[0]!.password).toBe('123456');
    expect(config.cameras[0]!.fps).toBe(2);
  });

  it('requires at least one camera', () => {
    expect(issuesOf(() => parseConfig({}))).toEqual([expect.stringMatching(/^cameras: /)]);
  });

  it('applies VISOR_ environment overrides by path, as typed values', async () => {
    const file = path.join(dir, 'line.yaml');
    await writeFile(file, 'cameras:\n  - id: a\n    source: cells\n');
    const { config, baseDir } = loadConfig(file, { VISOR_REVIEW__PORT: '9090', VISOR_CAMERAS__0__FPS: '2.5', VISOR_STORE__DATA_DIR: 'elsewhere', HOME: '/root' });
    expect(config.review.port).toBe(9090);
    expect(config.cameras[0]!.fps).toBe(2.5);
    expect(config.store.dataDir).toBe('elsewhere');
    expect(baseDir).toBe(dir);
  });

  it('rejects an override that names no setting, and one with a bad value', async () => {
    const file = path.join(dir, 'line2.json');
    await writeFile(file, JSON.stringify({ cameras: [{ id: 'a', source: 'cells' }] }));
    expect(issuesOf(() => loadConfig(file, { VISOR_REVIEW__PROT: '1' }))).toEqual(['VISOR_REVIEW__PROT: no such setting (review.prot)']);
    expect(issuesOf(() => loadConfig(file, { VISOR_REVIEW__PORT: 'eighty' }))).toEqual([expect.stringMatching(/^review\.port: /)]);
  });

  it('explains an unreadable or unparsable file', async () => {
    expect(issuesOf(() => loadConfig(path.join(dir, 'missing.yaml'), {}))[0]).toMatch(/cannot read .*missing\.yaml: ENOENT/);
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'cameras: [\n  - id: a\n');
    expect(issuesOf(() => loadConfig(bad, {}))[0]).toMatch(/cannot parse/);
  });

  it('README configuration reference is the one the schema renders', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const block = readme.split('<!-- config-reference:start -->')[1]?.split('<!-- config-reference:end -->')[0]?.trim();
    expect(block, 'README is out of date: paste the output of `visor config docs`').toBe(configReference());
  });

  it('ships a demo config that passes', () => {
    const { config } = loadConfig(new URL('../../config/demo.yaml', import.meta.url).pathname, {});
    expect(config.cameras.map((c) => c.id)).toEqual(['cells']);
  });
});

describe('env overrides', () => {
  it('creates missing sections and array items', () => {
    const { value } = applyEnvOverrides({}, { VISOR_CAMERAS__0__ID: 'x', VISOR_CAMERAS__0__SOURCE: 'rtsp://h/s', VISOR_LOG__LEVEL: 'debug' });
    expect(value).toEqual({ cameras: [{ id: 'x', source: 'rtsp://h/s' }], log: { level: 'debug' } });
  });
});
