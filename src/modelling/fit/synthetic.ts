// Synthetic defects on good images, the validation set `visor fit` chooses its configuration with
// when no labelled defects are given (CutPaste, DRAEM): a patch cut from another good image and
// pasted elsewhere, thin scratches, dark and bright blobs with soft edges, and noise-textured
// regions. They are not real defects; they are departures from the good images of every kind a
// defect can be (structure out of place, a line, an intensity change, a texture change), so a
// configuration that ranks them above held-out good images tends to rank real defects too.
// Two kinds change an image's large-scale appearance, as inactive areas of solar cells and stains
// on paper do: a large region (a fifth to a half of the image, cut by a straight edge or a large
// ellipse) a little darker or brighter, and a large region whose fine texture is smoothed or
// roughened. Without them every synthetic defect was small and local, and the search preferred
// what sees small things best even where it costs the large ones (normalising the Gaussian part,
// a finer grid; docs/fit.md).
// The small kinds are blended into their image at a strength graded from faint to plain
// (strengthOf): at full strength they were found by every candidate on paper (AUROC 0.99–1.00),
// which told the candidates nothing; faint ones separate what sees subtle departures from what
// does not. The large-area kinds are low-contrast by construction and stay as drawn: made fainter
// as well, they became the differences between candidates and moved the search off what finds
// paper's small impurities (docs/fit.md).
import type { RawImage } from '../../common/types.js';
import { seededRandom } from './stats.js';

export const SYNTHETIC_KINDS = ['cut-paste', 'scratch', 'blob', 'noise', 'area', 'area-texture'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

/** The strengths synthetic defects are graded over: the share of the change that is applied. */
export const STRENGTH = [0.1, 1] as const;

/**
 * The synthetic defects the search ranks candidates by (select.ts): the fainter half of the graded
 * strengths, so only small kinds. Plain ones are found by nearly every candidate on a surface
 * (AUROC 0.99–1.00 on paper), and the large-area kinds, which the finer grid sees worst, moved
 * paper's search off what finds its small impurities (docs/fit.md).
 */
export const isFaint = (strength: number): boolean => strength < (STRENGTH[0] + STRENGTH[1]) / 2;

/** The large-area kinds: drawn at low contrast already, so never made fainter. */
const LOW_CONTRAST: readonly SyntheticKind[] = ['area', 'area-texture'];

/**
 * Strength of synthetic defect `j` when the kinds are made in turn (kind j mod the kinds): the
 * defects of each small kind are spread evenly over STRENGTH (the base-2 van der Corput sequence:
 * 0, 1/2, 1/4, 3/4, 1/8 …), so the first 2^m of a kind fill every 2^-m of the range, whatever the
 * count; the large-area kinds are made at full strength.
 */
export function strengthOf(j: number): number {
  const kinds = SYNTHETIC_KINDS.length;
  if (LOW_CONTRAST.includes(SYNTHETIC_KINDS[j % kinds]!)) return 1;
  let u = 0;
  for (let i = Math.floor(j / kinds), bit = 0.5; i > 0; i >>= 1, bit /= 2) if (i & 1) u += bit;
  return STRENGTH[0] + (STRENGTH[1] - STRENGTH[0]) * u;
}

/** Side of a defect region as a fraction of the image's shorter side (drawn uniformly). */
const REGION = [0.08, 0.2] as const;

/**
 * A copy of `image` with one synthetic defect of `kind`; `donor` (another good image, any size)
 * gives the pasted patch; `strength` (0–1] the share of the change applied. Deterministic for a seed.
 */
export function synthesizeDefect(image: RawImage, donor: RawImage, kind: SyntheticKind, seed: number, strength = 1): RawImage {
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
  if (kind === 'area' || kind === 'area-texture') {
    const alpha = largeRegion(w, h, rand);
    if (kind === 'area') {
      // Low contrast: 15–45% darker or 15–40% brighter, each channel a little differently (a colour cast on colour images).
      const darker = rand() < 0.5;
      const f = darker ? 0.55 + 0.3 * rand() : 1.15 + 0.25 * rand();
      const factors = Array.from({ length: ch }, () => f * (1 + (rand() - 0.5) * 0.1));
      for (let i = 0; i < w * h; i++) {
        const a = alpha[i]!;
        if (a <= 0) continue;
        for (let c = 0; c < ch; c++) out[i * ch + c] = clamp(out[i * ch + c]! * (1 + a * (factors[c]! - 1)));
      }
    } else {
      // The detail around a local mean (box blur) scaled: smoothed away (× 0–0.3) or roughened (× 2–3).
      const gain = rand() < 0.5 ? 0.3 * rand() : 2 + rand();
      const radius = Math.max(1, Math.round(short / 40));
      const local = boxBlur(out, w, h, ch, radius);
      for (let i = 0; i < w * h; i++) {
        const a = alpha[i]!;
        if (a <= 0) continue;
        for (let c = 0; c < ch; c++) {
          const o = i * ch + c;
          const m = local[o]!;
          out[o] = clamp(out[o]! * (1 - a) + (m + (out[o]! - m) * gain) * a);
        }
      }
    }
  } else if (kind === 'cut-paste') {
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
  if (strength < 1) for (let i = 0; i < out.length; i++) out[i] = clamp(image.data[i]! + (out[i]! - image.data[i]!) * strength);
  return { width: w, height: h, pixelFormat: image.pixelFormat, data: out };
}

/** Area of a large region as a fraction of the image (drawn uniformly). */
const LARGE_REGION = [0.2, 0.5] as const;

/**
 * A mask [w·h] of weights 0–1 over a large region: the side of a straight line (an edge sharp as a
 * crack's or soft over up to 5% of the short side) or a large ellipse with a soft edge, placed so
 * it covers LARGE_REGION of the image.
 */
function largeRegion(w: number, h: number, rand: () => number): Float32Array {
  const alpha = new Float32Array(w * h);
  const fraction = LARGE_REGION[0] + (LARGE_REGION[1] - LARGE_REGION[0]) * rand();
  const short = Math.min(w, h);
  if (rand() < 0.5) {
    const angle = rand() * 2 * Math.PI;
    const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
    // The cut where `fraction` of the pixels lie beyond it, from the projections of a coarse grid.
    const step = Math.max(1, Math.floor(short / 64));
    const proj: number[] = [];
    for (let y = 0; y < h; y += step) for (let x = 0; x < w; x += step) proj.push(x * dx + y * dy);
    proj.sort((a, b) => a - b);
    const cut = proj[Math.min(proj.length - 1, Math.floor((1 - fraction) * proj.length))]!;
    const soft = Math.max(1, short * 0.05 * rand() * rand());
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) alpha[y * w + x] = Math.min(1, Math.max(0, (x * dx + y * dy - cut) / soft + 0.5));
  } else {
    const ratio = 0.6 + 0.8 * rand();
    const rx = Math.sqrt((fraction * w * h * ratio) / Math.PI);
    const ry = (fraction * w * h) / (Math.PI * rx);
    const cx = rx * 0.5 + rand() * Math.max(0, w - rx);
    const cy = ry * 0.5 + rand() * Math.max(0, h - ry);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const r = Math.hypot((x - cx) / rx, (y - cy) / ry);
        alpha[y * w + x] = Math.min(1, Math.max(0, (1 - r) * 4));
      }
    }
  }
  return alpha;
}

/** Mean over a (2r+1)² box around every pixel, per channel (summed-area table; edges clamped). */
function boxBlur(data: Uint8Array, w: number, h: number, ch: number, r: number): Float32Array {
  const out = new Float32Array(w * h * ch);
  const sat = new Float64Array((w + 1) * (h + 1));
  for (let c = 0; c < ch; c++) {
    for (let y = 0; y < h; y++) {
      let row = 0;
      for (let x = 0; x < w; x++) {
        row += data[(y * w + x) * ch + c]!;
        sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1]! + row;
      }
    }
    for (let y = 0; y < h; y++) {
      const y0 = Math.max(0, y - r);
      const y1 = Math.min(h, y + r + 1);
      for (let x = 0; x < w; x++) {
        const x0 = Math.max(0, x - r);
        const x1 = Math.min(w, x + r + 1);
        const sum = sat[y1 * (w + 1) + x1]! - sat[y0 * (w + 1) + x1]! - sat[y1 * (w + 1) + x0]! + sat[y0 * (w + 1) + x0]!;
        out[(y * w + x) * ch + c] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
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
