// A full disk, on a real small file system (a 5 MB tmpfs mounted by the test, as root): the
// watermarks shed ok images, then delete old ones early, then keep verdicts only; the cause
// (SQLITE_FULL, ENOSPC) is in the log and in health; storing resumes when space comes back
// and the database stays intact.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { createLogger, silentLogger } from '../../src/common/log.js';

import { createSamplingPolicy } from '../../src/line/sampling.js';
import { diskHealth, diskPressure, openStore, registerStoreMetrics, type Store } from '../../src/store/index.js';
import { RECOVERY_MS, RECOVERY_SAVES } from '../../src/store/disk.js';
import type { Inspection, Verdict } from '../../src/common/types.js';
import { makeInspection as fullInspection, noiseJpeg, tempDir } from './helpers.js';

/** An inspection as the pipeline hands it over: no reason for a missing image yet. */
const makeInspection = (overrides: Partial<Inspection> = {}) => fullInspection({ imageShed: undefined, ...overrides });

const SIZE_MB = 5;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let mountError: string | undefined;

// Mounting needs root (CI runs the suite as root); anywhere else the test says why it is skipped.
tmp = await tempDir('visor-full-disk-');
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MB}m`, 'visor-test', tmp.dir], { stdio: 'pipe' });
} catch (err) {
  mountError = String((err as { stderr?: Buffer }).stderr ?? err).trim() || String(err);
}

afterAll(async () => {
  if (mountError === undefined) execFileSync('umount', [tmp.dir]);
  await tmp.cleanup();
});

let store: Store | undefined;
let logLines: Array<{ level: number; msg: string; err?: { message: string; cause?: { code?: string } }; code?: string }> = [];
const dataDir = () => path.join(tmp.dir, 'data');
const blocker = () => path.join(tmp.dir, 'blocker');

afterEach(async () => {
  await store?.close(); // a retention pass's open folder would keep the file system busy at umount
  store = undefined;
  logLines = [];
  fs.rmSync(dataDir(), { recursive: true, force: true });
  fs.rmSync(blocker(), { force: true });
});

/** The store's clock: the failing state clears only RECOVERY_MS after the last failure. */
let clock = 0;

function open(): Store {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  const config = parseConfig({ cameras: [{ id: 'cells', source: 'x' }], store: { okSampleFraction: 1, maxDiskMb: 1000 } });
  clock = Date.now();
  store = openStore({ config: config.store, dataDir: dataDir(), log: createLogger({ level: 'info', destination }), now: () => clock });
  return store;
}

/** Leaves about `leaveBytes` free on the tmpfs. */
function fillDisk(leaveBytes: number): void {
  const s = fs.statfsSync(tmp.dir);
  const free = s.bavail * s.bsize;
  fs.writeFileSync(blocker(), Buffer.alloc(Math.max(0, free - leaveBytes)));
}

describe.skipIf(mountError !== undefined)(`the data dir on a ${SIZE_MB} MB tmpfs${mountError ? ` (skipped: cannot mount a tmpfs here: ${mountError})` : ''}`, () => {
  beforeAll(() => {
    const s = fs.statfsSync(tmp.dir);
    expect(s.blocks * s.bsize).toBe(SIZE_MB * 1024 * 1024);
  });

  it('keeps every verdict while the disk fills: ok images shed and counted, old images deleted early, defects kept', async () => {
    const s = open();
    const registry = new Registry();
    registerStoreMetrics(registry, s);
    const config = parseConfig({ cameras: [{ id: 'cells', source: 'x' }], store: { okSampleFraction: 1 } });
    const sampling = createSamplingPolicy({ config, log: silentLogger(), registry });
    sampling.addPressure(diskPressure(s.disk));
    const images = await Promise.all([1, 2, 3, 4].map((seed) => noiseJpeg(160, 160, seed)));
    const frames = 600; // ~15 MB of images for a 5 MB disk
    const ids: string[] = [];
    for (let i = 0; i < frames; i++) {
      const verdict: Verdict = i % 5 === 0 ? 'defect' : 'ok';
      const inspection = makeInspection({ verdict, frameSeq: i, capturedAt: Date.now() - (frames - i) });
      const decision = sampling.imageDecision(inspection, false);
      if (decision.shed !== undefined) inspection.imageShed = decision.shed;
      ids.push(s.save(inspection, decision.keep ? { image: images[i % 4]! } : undefined).id);
    }

    // Every verdict stored; every ok frame that has no image says why.
    const rows = ids.map((id) => s.get(id)!);
    expect(rows.every(Boolean)).toBe(true);
    expect(s.stats().notStored).toBe(0);
    const shed = rows.filter((r) => r.imageShed !== undefined);
    expect(shed.length).toBeGreaterThan(100);
    expect(shed.every((r) => r.imageShed!.startsWith('disk: data dir'))).toBe(true);
    const metrics = await registry.metrics();
    const shedTotal = Number(/visor_images_shed_total\{camera="cells",verdict="ok",source="disk"\} (\d+)/.exec(metrics)?.[1]);
    expect(shedTotal).toBe(shed.filter((r) => r.verdict === 'ok').length);
    expect(metrics).toMatch(/visor_store_free_bytes \d+/);
    // The newest defects keep their images: old images made room for them.
    const lastDefect = rows.filter((r) => r.verdict === 'defect').at(-1)!;
    expect(lastDefect.imagePath).toBeDefined();
    expect(fs.existsSync(s.imageFile(lastDefect.imagePath!))).toBe(true);
    expect(logLines.some((l) => /deleted the oldest images early/.test(l.msg))).toBe(true);
    expect(logLines.some((l) => l.level === 40 && /data dir .*% free/.test(l.msg))).toBe(true);
    expect(diskHealth(s.disk)).toMatchObject({ ok: false, reason: expect.stringMatching(/data dir .*% free/) });
    expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('names SQLITE_FULL when the disk is full, reports failing, and resumes when space comes back', async () => {
    const s = open();
    s.save(makeInspection({ verdict: 'ok' }));
    fillDisk(0);
    let failure: Error | undefined;
    for (let i = 0; i < 400 && failure === undefined; i++) {
      try {
        s.save(makeInspection({ frameSeq: i, classes: Array.from({ length: 50 }, (_, k) => ({ label: `class-${k}`, score: k / 50 })) }));
      } catch (err) {
        failure = err as Error;
      }
    }
    expect(failure?.message).toMatch(/could not store inspection .*: SQLITE_FULL: database or disk is full/);
    const health = diskHealth(s.disk);
    expect(health).toMatchObject({ ok: false, failing: true, notStored: 1, level: 'refuse-images' });
    expect(health.reason).toMatch(/storing inspections fails: SQLITE_FULL/);
    expect(diskPressure(s.disk).level()).toBe('all');
    const logged = logLines.find((l) => l.level === 50 && /storing inspections fails/.test(l.msg));
    expect(logged?.code).toBe('SQLITE_FULL');

    // An image write on the full disk fails with ENOSPC and the row says so.
    fs.rmSync(blocker());
    fillDisk(64 * 1024); // room for rows, not for this image
    const withImage = s.save(makeInspection(), { image: await noiseJpeg(400, 400, 9) });
    expect(withImage.imagePath).toBeUndefined();
    expect(s.get(withImage.id)!.imageShed).toBe('store: image write failed: ENOSPC');
    // One save that fits does not make a nearly full disk healthy: health would flap with every
    // save that happens to fit. Saving works again after RECOVERY_SAVES in a row, RECOVERY_MS on.
    expect(diskHealth(s.disk).failing).toBe(true);

    fs.rmSync(blocker());
    for (let i = 1; i < RECOVERY_SAVES; i++) s.save(makeInspection());
    expect(diskHealth(s.disk).failing).toBe(true); // enough saves, too soon after the failure
    clock += RECOVERY_MS;
    const after = s.save(makeInspection(), { image: await noiseJpeg() });
    expect(diskHealth(s.disk).failing).toBeUndefined(); // saving works again
    expect(fs.existsSync(s.imageFile(after.imagePath!))).toBe(true);
    expect(s.disk.check()).toMatchObject({ level: 'ok', notStored: 1 });
    expect(diskHealth(s.disk)).toMatchObject({ ok: true });
    expect(logLines.some((l) => /storing inspections works again/.test(l.msg))).toBe(true);
    expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('reports a start on an already-full disk at once', () => {
    open().save(makeInspection());
    store!.close();
    fillDisk(100 * 1024);
    const s = open();
    expect(diskHealth(s.disk)).toMatchObject({ ok: false, level: 'retention', reason: expect.stringMatching(/ok images are not kept/) });
    expect(diskPressure(s.disk).level()).toBe('ok');
  });
});
