import { describe, expect, it } from 'vitest';
import { decide, resolveThresholds } from '../../src/inference/index.js';

describe('decide', () => {
  const t = { defect: 0.6, uncertainBand: 0.1 };
  it('is defect at and above the threshold', () => {
    expect(decide(0.6, t)).toBe('defect');
    expect(decide(0.95, t)).toBe('defect');
  });
  it('is uncertain in the band just below it', () => {
    expect(decide(0.5, t)).toBe('uncertain');
    expect(decide(0.59, t)).toBe('uncertain');
  });
  it('is ok below the band', () => {
    expect(decide(0.49, t)).toBe('ok');
    expect(decide(-3, t)).toBe('ok');
  });
  it('has no uncertain verdicts with a zero band', () => {
    expect(decide(0.599, { defect: 0.6, uncertainBand: 0 })).toBe('ok');
    expect(decide(0.6, { defect: 0.6, uncertainBand: 0 })).toBe('defect');
  });
  it('does not call a NaN score ok', () => {
    expect(decide(Number.NaN, t)).toBe('uncertain');
  });
});

describe('resolveThresholds', () => {
  const manifest = { defect: 0.7, uncertainBand: 0.1, calibration: { method: 'p99 of held-out good' } };
  it('uses the manifest values when nothing overrides them, without calibration details', () => {
    expect(resolveThresholds(manifest)).toEqual({ defect: 0.7, uncertainBand: 0.1 });
  });
  it('lets the model config override the manifest, and the camera override both, field by field', () => {
    expect(resolveThresholds(manifest, { defect: 0.5 })).toEqual({ defect: 0.5, uncertainBand: 0.1 });
    expect(resolveThresholds(manifest, { defect: 0.5, uncertainBand: 0.2 }, { defect: 0.4 })).toEqual({ defect: 0.4, uncertainBand: 0.2 });
    expect(resolveThresholds(manifest, undefined, { uncertainBand: 0 })).toEqual({ defect: 0.7, uncertainBand: 0 });
  });
});
