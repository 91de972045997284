// The sampling policy: which images the line keeps, and which inspections are uploaded.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { cameraPolicy, createSamplingPolicy, decide, shedsImage, type ShedLevel } from '../../src/line/sampling.js';
import { FIXTURES } from '../helpers/paths.js';
import { capturingLogger, inspection } from '../upload/helpers.js';

describe('keeping images', () => {
  const sampling = (okSampleFraction: number, random: () => number) =>
    createSamplingPolicy({ config: parseConfig({ cameras: [{ id: 'a', source: FIXTURES }], store: { okSampleFraction } }), log: silentLogger(), random });

  it('keeps defect and uncertain images always, ok ones with probability store.okSampleFraction', () => {
    let next = 0;
    const s = sampling(0.25, () => next);
    for (next of [0, 0.5, 0.9999]) {
      expect(s.keepImage('defect')).toBe(true);
      expect(s.keepImage('uncertain')).toBe(true);
    }
    next = 0.24;
    expect(s.keepImage('ok')).toBe(true);
    next = 0.25;
    expect(s.keepImage('ok')).toBe(false);
    next = 0.9;
    expect(s.keepImage('ok')).toBe(false);

    next = 0.9999;
    expect(sampling(1, () => next).keepImage('ok')).toBe(true);
    next = 0;
    expect(sampling(0, () => next).keepImage('ok')).toBe(false);
  });

  it('warns when upload wants more ok frames than the store keeps', () => {
    const { log, text } = capturingLogger();
    const config = parseConfig({
      cameras: [{ id: 'a', source: FIXTURES }, { id: 'b', source: FIXTURES, upload: { okSampleFraction: 0.01 } }],
      store: { okSampleFraction: 0.02 },
      upload: { enabled: true, connectionString: 'UseDevelopmentStorage=true', okSampleFraction: 0.5 },
    });
    const s = createSamplingPolicy({ config, log });
    const warnings = text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { cameraId: string; msg: string });
    expect(warnings.map((w) => w.cameraId)).toEqual(['a']);
    expect(warnings[0]!.msg).toMatch(/raise store.okSampleFraction/);
    expect(s.camera('b')).toMatchObject({ okSampleFraction: 0.01 });
  });
});

describe('shedding images under pressure', () => {
  it('takes the highest level of all sources, with its name and reason', () => {
    const s = createSamplingPolicy({ config: parseConfig({ cameras: [{ id: 'a', source: FIXTURES }] }), log: silentLogger() });
    expect(s.shedLevel()).toEqual({ level: 'none' });
    let disk: ShedLevel = 'none';
    let line: ShedLevel = 'ok';
    s.addPressure({ name: 'disk', level: () => disk, reason: () => 'data dir 3% free' });
    s.addPressure({ name: 'line', level: () => line, reason: () => 'encoders behind' });
    expect(s.shedLevel()).toEqual({ level: 'ok', source: 'line', reason: 'encoders behind' });
    disk = 'all';
    expect(s.shedLevel()).toEqual({ level: 'all', source: 'disk', reason: 'data dir 3% free' });
    disk = 'none';
    line = 'none';
    expect(s.shedLevel()).toEqual({ level: 'none' });
  });

  it('sheds ok images first, then uncertain, defects only at "all"', () => {
    const shed = (level: ShedLevel) => (['ok', 'uncertain', 'defect'] as const).filter((v) => shedsImage(level, v));
    expect(shed('none')).toEqual([]);
    expect(shed('ok')).toEqual(['ok']);
    expect(shed('uncertain')).toEqual(['ok', 'uncertain']);
    expect(shed('all')).toEqual(['ok', 'uncertain', 'defect']);
  });
});

describe('upload sampling', () => {
  const config = parseConfig({ cameras: [{ id: 'a', source: FIXTURES, upload: { okSampleFraction: 0.1, maxPerHour: 2 } }], upload: { okSampleFraction: 0.5 } });
  const policy = cameraPolicy(config.upload, config.cameras[0]);

  it('takes the camera overrides over the section', () => {
    expect(policy).toEqual({ enabled: true, defects: true, uncertain: true, okSampleFraction: 0.1, maxPerHour: 2 });
  });

  it('samples ok frames among stored ones so the overall fraction is the configured one', () => {
    const stored = { ...inspection('ok', 0), imagePath: 'images/a/x.jpg' };
    // store keeps 20% of ok images; upload wants 10% overall → half of the stored ones.
    expect(decide({ inspection: stored, policy, storeOkFraction: 0.2, selectedLastHour: 0, random: () => 0.49 })).toEqual({ selected: true, reason: 'ok-sampled' });
    expect(decide({ inspection: stored, policy, storeOkFraction: 0.2, selectedLastHour: 0, random: () => 0.51 })).toEqual({ selected: false, reason: 'ok-not-sampled' });
    expect(decide({ inspection: inspection('ok', 0), policy, storeOkFraction: 0.2, selectedLastHour: 0, random: () => 0 })).toEqual({ selected: false, reason: 'ok-no-image' });
  });

  it('takes every defect and uncertain frame up to the hourly cap', () => {
    const defect = { ...inspection('defect', 0), imagePath: 'images/a/x.jpg' };
    expect(decide({ inspection: defect, policy, storeOkFraction: 1, selectedLastHour: 1, random: () => 1 })).toEqual({ selected: true, reason: 'defect' });
    expect(decide({ inspection: defect, policy, storeOkFraction: 1, selectedLastHour: 2, random: () => 1 })).toEqual({ selected: false, reason: 'hourly-cap' });
    expect(decide({ inspection: { ...defect, verdict: 'uncertain' }, policy, storeOkFraction: 1, selectedLastHour: 0, random: () => 1 })).toEqual({ selected: true, reason: 'uncertain' });
    expect(decide({ inspection: inspection('defect', 0), policy, storeOkFraction: 1, selectedLastHour: 0, random: () => 1 })).toEqual({ selected: false, reason: 'no-image' });
  });
});

