// Synthetic defects (synthetic.ts): the small kinds change a small region, the large-area kinds a
// fifth to a half of the image at low contrast, as ELPV's inactive areas and paper's stains do;
// without those the search could not see what a configuration costs large defects (docs/fit.md).
import { describe, expect, it } from 'vitest';
import type { RawImage } from '../../../src/common/types.js';
import { STRENGTH, strengthOf, SYNTHETIC_KINDS, synthesizeDefect } from '../../../src/modelling/fit/synthetic.js';
import { seededRandom } from '../../../src/modelling/fit/stats.js';

const W = 160;
const H = 120;
const rand = seededRandom(9);
/** A mid-grey image with fine noise (a texture the area-texture kind can smooth or roughen). */
const image = (pixelFormat: 'gray' | 'rgb24'): RawImage => {
  const ch = pixelFormat === 'gray' ? 1 : 3;
  return { width: W, height: H, pixelFormat, data: Buffer.from(Array.from({ length: W * H * ch }, () => 100 + Math.floor(rand() * 50))) };
};

/** Share of pixels that changed by more than 3 grey levels, and the largest change. */
function change(before: RawImage, after: RawImage): { share: number; max: number } {
  const ch = before.pixelFormat === 'gray' ? 1 : 3;
  let changed = 0;
  let max = 0;
  for (let i = 0; i < W * H; i++) {
    let d = 0;
    for (let c = 0; c < ch; c++) d = Math.max(d, Math.abs(before.data[i * ch + c]! - after.data[i * ch + c]!));
    if (d > 3) changed++;
    max = Math.max(max, d);
  }
  return { share: changed / (W * H), max };
}

describe('synthetic defects', () => {
  for (const pixelFormat of ['gray', 'rgb24'] as const) {
    it(`changes a small region for the local kinds and a large one for the area kinds (${pixelFormat})`, () => {
      const base = image(pixelFormat);
      const donor = image(pixelFormat);
      for (const kind of SYNTHETIC_KINDS) {
        for (let seed = 1; seed <= 6; seed++) {
          const out = synthesizeDefect(base, donor, kind, seed);
          expect(out).toMatchObject({ width: W, height: H, pixelFormat });
          const { share, max } = change(base, out);
          if (kind === 'area' || kind === 'area-texture') {
            expect(share, `${kind} seed ${seed}`).toBeGreaterThan(0.12);
            expect(share, `${kind} seed ${seed}`).toBeLessThan(0.6);
          } else {
            expect(max, `${kind} seed ${seed}`).toBeGreaterThan(10);
            expect(share, `${kind} seed ${seed}`).toBeLessThan(0.1);
          }
        }
      }
      // Deterministic for a seed.
      expect(synthesizeDefect(base, donor, 'area', 3).data.equals(synthesizeDefect(base, donor, 'area', 3).data)).toBe(true);
    });
  }

  it('grades the small kinds from faint to plain, whatever the count, and keeps the large-area kinds as drawn', () => {
    const span = STRENGTH[1] - STRENGTH[0];
    for (const count of [24, 160]) {
      SYNTHETIC_KINDS.forEach((kind, k) => {
        const strengths = Array.from({ length: count }, (_, j) => j).filter((j) => j % SYNTHETIC_KINDS.length === k).map((j) => strengthOf(j));
        if (kind === 'area' || kind === 'area-texture') {
          expect(new Set(strengths), kind).toEqual(new Set([1]));
          return;
        }
        // Every quarter of the range holds some of each small kind's defects, and none falls outside it.
        for (let q = 0; q < 4; q++) {
          const lo = STRENGTH[0] + (q * span) / 4;
          expect(strengths.filter((s) => s >= lo && s < lo + span / 4).length, `${kind}, ${count} defects, quarter ${q}`).toBeGreaterThan(0);
        }
        expect(Math.min(...strengths)).toBeGreaterThanOrEqual(STRENGTH[0]);
        expect(Math.max(...strengths)).toBeLessThanOrEqual(STRENGTH[1]);
      });
    }
  });

  it('applies the strength as the share of the change: a faint defect changes the same pixels less', () => {
    const base = image('gray');
    const donor = image('gray');
    for (const kind of SYNTHETIC_KINDS) {
      const full = synthesizeDefect(base, donor, kind, 4);
      const faint = synthesizeDefect(base, donor, kind, 4, 0.25);
      let fullChange = 0;
      let faintChange = 0;
      for (let i = 0; i < W * H; i++) {
        const d = full.data[i]! - base.data[i]!;
        fullChange += Math.abs(d);
        faintChange += Math.abs(faint.data[i]! - base.data[i]!);
        // Same place and direction, a quarter of the size (rounding: half a grey level).
        expect(Math.abs(faint.data[i]! - base.data[i]! - d * 0.25), `${kind} pixel ${i}`).toBeLessThanOrEqual(0.5);
      }
      expect(fullChange, kind).toBeGreaterThan(0);
      expect(faintChange / fullChange, kind).toBeCloseTo(0.25, 1);
    }
  });
});
