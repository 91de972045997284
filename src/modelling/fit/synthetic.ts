// Synthetic defects on good images, the validation set `visor fit` chooses its configuration with
// when no labelled defects are given (CutPaste, DRAEM): a patch cut from another good image and
// pasted elsewhere, thin scratches, dark and bright blobs with soft edges, and noise-textured
// regions. They are not real defects; they are local departures from the good images of every
// kind a defect can be (structure out of place, a line, an intensity change, a texture change),
// so a configuration that ranks them above held-out good images tends to rank real defects too.
import type { RawImage } from '../../common/types.js';
import { seededRandom } from './stats.js';

export const SYNTHETIC_KINDS = ['cut-paste', 'scratch', 'blob', 'noise'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

/** Side of a defect region as a fraction of the image's shorter side (drawn uniformly). */
const REGION = [0.08, 0.2] as const;

/**
 * A copy of `image` with one synthetic defect of `kind`; `donor` (another good image, any size)
 * gives the pasted patch. Deterministic for a seed.
 */
export function synthesizeDefect(image: RawImage, donor: RawImage, kind: SyntheticKind, seed: number): RawImage {
  const rand = seededRandom(seed);
  const ch = image.pixelFormat === 'gray' ? 1 : 3;
  const { width: w, height: h } = image;
  const out = Buffer.from(image.data.subarray(0, w * h * ch));
  const short = Math.min(w, h);
  const side = Math.max(4, Math.round(short * (REGION[0] + (REGION[1] - REGION[0]) * rand())));
  const rw = Math.min(w, Math.round(side * (0.6 + 0.8 * rand())));
  const rh = Math.min(h, Math.round((side * side) / rw));
  const x0 = Math.floor(rand() * (w - rw + 1));
  const y0 = Math.floor(rand() * (h - rh + 1));
  const set = (x: number, y: number, v: readonly number[], alpha: number): void => {
    if (x < 0 || y < 0 || x >= w || y >= h || alpha <= 0) return;
    const o = (y * w + x) * ch;
    for (let c = 0; c < ch; c++) out[o + c] = clamp(out[o + c]! * (1 - alpha) + v[Math.min(c, v.length - 1)]! * alpha);
  };
  const mean = meanIntensity(image);
  if (kind === 'cut-paste') {
    // A patch of the donor from a random place, pasted at (x0, y0), at the image's scale.
    const sx = donor.width / w;
    const sy = donor.height / h;
    const dx = Math.floor(rand() * (w - rw + 1));
    const dy = Math.floor(rand() * (h - rh + 1));
    const flip = rand() < 0.5;
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        const px = Math.min(donor.width - 1, Math.floor((dx + (flip ? rw - 1 - x : x)) * sx));
        const py = Math.min(donor.height - 1, Math.floor((dy + y) * sy));
        set(x0 + x, y0 + y, pixelOf(donor, px, py, ch), 1);
      }
    }
  } else if (kind === 'scratch') {
    // One to three thin lines across the region, darker or brighter than the image.
    const lines = 1 + Math.floor(rand() * 3);
    const thickness = Math.max(1, Math.round(short / 150));
    for (let l = 0; l < lines; l++) {
      const v = [rand() < 0.5 ? mean * 0.25 : Math.min(255, mean * 1.6 + 60)];
      const a = rand() * Math.PI;
      const len = side * (0.8 + rand());
      const cx = x0 + rw / 2 + (rand() - 0.5) * rw * 0.5;
      const cy = y0 + rh / 2 + (rand() - 0.5) * rh * 0.5;
      const curve = rand() < 0.5 ? side * 0.1 : 0;
      for (let t = -len / 2; t <= len / 2; t += 0.5) {
        const bend = Math.sin((t / len) * Math.PI) * curve;
        const x = cx + Math.cos(a) * t - Math.sin(a) * bend;
        const y = cy + Math.sin(a) * t + Math.cos(a) * bend;
        for (let oy = 0; oy < thickness; oy++) for (let ox = 0; ox < thickness; ox++) set(Math.round(x) + ox, Math.round(y) + oy, v, 0.85);
      }
    }
  } else if (kind === 'blob') {
    // An ellipse with a soft edge, much darker or brighter than the image around it.
    const v = [rand() < 0.5 ? mean * 0.2 : Math.min(255, mean * 1.7 + 50)];
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        const r = Math.hypot((x - rw / 2) / (rw / 2), (y - rh / 2) / (rh / 2));
        set(x0 + x, y0 + y, v, Math.min(1, Math.max(0, (1 - r) * 3)) * 0.9);
      }
    }
  } else {
    // Noise texture: coarse random values blended in, so the region's texture changes, not just its level.
    const cell = Math.max(1, Math.round(side / 12));
    const cols = Math.ceil(rw / cell) + 1;
    const noise = Array.from({ length: (Math.ceil(rh / cell) + 1) * cols }, () => rand() * 255);
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        const edge = Math.min(x, y, rw - 1 - x, rh - 1 - y) / Math.max(1, side * 0.1);
        set(x0 + x, y0 + y, [noise[Math.floor(y / cell) * cols + Math.floor(x / cell)]!], Math.min(1, edge) * 0.7);
      }
    }
  }
  return { width: w, height: h, pixelFormat: image.pixelFormat, data: out };
}

function pixelOf(img: RawImage, x: number, y: number, ch: number): number[] {
  const src = img.pixelFormat === 'gray' ? 1 : 3;
  const o = (y * img.width + x) * src;
  if (src === ch) return Array.from(img.data.subarray(o, o + ch));
  if (ch === 1) return [(img.data[o]! + img.data[o + 1]! + img.data[o + 2]!) / 3];
  return [img.data[o]!, img.data[o]!, img.data[o]!];
}

function meanIntensity(img: RawImage): number {
  let s = 0;
  const step = Math.max(1, Math.floor(img.data.length / 4096));
  let n = 0;
  for (let i = 0; i < img.data.length; i += step, n++) s += img.data[i]!;
  return s / Math.max(1, n);
}

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
