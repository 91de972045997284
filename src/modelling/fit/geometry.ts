// The geometry `visor fit` gives a model, chosen from the sizes of the good images it is given
// (src/common/geometry.ts is the rule that applies it everywhere): square-ish images of about the
// input size become one padded view; strongly non-square images (strips) and images much larger
// than the input are cut into overlapping tiles at a resolution that keeps the tile count bounded.
import sharp from 'sharp';
import { describeGeometry, tileCount, type Geometry, type Resize, type Size } from '../../common/geometry.js';

/** Long side / short side from which an image is tiled along its length instead of padded square. */
export const TILE_ASPECT = 1.5;
/**
 * A short side this many times the input or more is tiled to keep detail a single view would
 * lose (a 1600x1200 photo at 256 px: yes; 640x480: no, one view costs a sixth of the tiles).
 */
export const TILE_DETAIL = 3;
/** The frame's short side is at most this many times the input (more detail costs more tiles). */
export const MAX_SCALE = 2;
/** Tiles per image at most: a tiled image costs one model run per tile. */
export const MAX_TILES = 8;
/** Neighbouring tiles overlap by at least this share of a tile, so a defect on a tile edge is seen whole by one of them. */
export const MIN_OVERLAP = 0.25;

export interface GeometryChoice {
  geometry: Geometry;
  /** Why, in words (for the summary line and model.json). */
  reason: string;
}

/** Tiles along one axis for a frame side `frame` and tile side `tile`. */
function tilesAlong(frame: number, tile: number): number {
  return frame <= tile ? 1 : Math.ceil((frame - tile) / (tile * (1 - MIN_OVERLAP))) + 1;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * The geometry for images of these sizes and a square input of side `input`. The frame takes the
 * images' median aspect ratio; `resize` (default pad) brings every image to it. tiling false: one view.
 */
export function chooseGeometry(sizes: readonly Size[], input: number, opts: { resize?: Resize; tiling?: boolean } = {}): GeometryChoice {
  const resize = opts.resize ?? 'pad';
  const single = (reason: string): GeometryChoice => ({ geometry: { resize, frame: { width: input, height: input }, tiles: { columns: 1, rows: 1 } }, reason });
  if (sizes.length === 0) return single('no image sizes known');
  // Aspect as long/short, median in log space so 2:1 and 1:2 images weigh alike.
  const logAspect = median(sizes.map((s) => Math.log(s.width / s.height)));
  const landscape = logAspect >= 0;
  const ratio = Math.exp(Math.abs(logAspect));
  const short = median(sizes.map((s) => Math.min(s.width, s.height)));
  const long = ratio >= TILE_ASPECT;
  const large = short >= TILE_DETAIL * input;
  if (opts.tiling === false) return single('tiling off');
  if (!long && !large) return single(`median aspect ${ratio.toFixed(2)}:1 and short side ${short} px: one view`);
  // Short side = scale × input: the input for strips; for large images the largest scale (up to
  // MAX_SCALE) whose tiles stay within MAX_TILES.
  let scale = large ? Math.max(1, Math.min(MAX_SCALE, short / input)) : 1;
  for (;;) {
    const s = Math.round(input * scale);
    const l = Math.max(s, Math.round(s * ratio));
    if (tilesAlong(s, input) * tilesAlong(l, input) <= MAX_TILES || scale <= 1) break;
    scale = Math.max(1, scale - 0.25);
  }
  const s = Math.round(input * scale);
  let l = Math.max(s, Math.round(s * ratio));
  // A strip too long for MAX_TILES even at the input scale: the frame is as long as MAX_TILES
  // tiles reach, and the image is fitted into it (padded or cropped).
  if (tilesAlong(s, input) * tilesAlong(l, input) > MAX_TILES) l = Math.floor(input + (MAX_TILES - 1) * input * (1 - MIN_OVERLAP));
  const frame = landscape ? { width: l, height: s } : { width: s, height: l };
  const geometry: Geometry = { resize, frame, tiles: { columns: tilesAlong(frame.width, input), rows: tilesAlong(frame.height, input) } };
  const why = [long ? `median aspect ${ratio.toFixed(2)}:1 ≥ ${TILE_ASPECT}` : '', large ? `median short side ${short} px ≥ ${TILE_DETAIL}× the input` : ''].filter(Boolean).join(', ');
  return { geometry, reason: `${why}: tiled (${tileCount(geometry)} tiles ≤ ${MAX_TILES})` };
}

/** Sizes of image files from their headers (no decoding); unreadable files are left out (the fit reports them). */
export async function imageSizes(files: readonly string[]): Promise<Size[]> {
  const out: Size[] = [];
  for (const file of files) {
    const m = await sharp(file).metadata().catch(() => undefined);
    if (m?.width && m.height) out.push({ width: m.width, height: m.height });
  }
  return out;
}

/**
 * One line about the images' sizes and the geometry used, never a list of them:
 * "412 images in 37 sizes, smallest 310x200, largest 2048x512; aspect ratio kept, padded to …".
 */
export function sizesSummary(sizes: readonly Size[], choice: GeometryChoice, input: Size): string {
  const keys = new Set(sizes.map((s) => `${s.width}x${s.height}`));
  const byArea = [...sizes].sort((a, b) => a.width * a.height - b.width * b.height);
  const text = (s: Size | undefined): string => (s ? `${s.width}x${s.height}` : '?');
  const what =
    keys.size <= 1
      ? `${sizes.length} image${sizes.length === 1 ? '' : 's'}, all ${text(byArea[0])}`
      : `${sizes.length} images in ${keys.size} sizes, smallest ${text(byArea[0])}, largest ${text(byArea.at(-1))}`;
  return `${what}; ${describeGeometry(choice.geometry, input)} (${choice.reason})`;
}

/** Index of the highest value of each image's `tiles` consecutive values (samples are stored image by image). */
export function worstTiles(values: readonly number[], tiles: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i += tiles) {
    let best = i;
    for (let t = i + 1; t < i + tiles; t++) if (values[t]! > values[best]!) best = t;
    out.push(best);
  }
  return out;
}
