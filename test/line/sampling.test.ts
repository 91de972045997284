// The sampling policy: which images the line keeps, and which inspections are uploaded.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { cameraPolicy, createSamplingPolicy, decide } from '../../src/line/sampling.js';
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

