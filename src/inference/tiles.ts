// A tiled image's tile outputs → one ModelOutput: the worst tile's score, and the tiles' heat
// maps stitched into one map over the whole frame (overlaps keep the hotter value, in line with
// the score being the worst tile's).
import { ModelPackageError } from '../common/errors.js';
import { tileOrigins, type Geometry, type Size } from '../common/geometry.js';
import type { HeatMap, ModelOutput } from '../common/types.js';
import type { OutputTensors } from './postprocess.js';

export function mergeTiles(tiles: readonly ModelOutput[], geometry: Geometry, input: Size): ModelOutput {
  if (tiles.length === 1) return tiles[0]!;
  let score = -Infinity;
  for (const t of tiles) if (t.score > score) score = t.score;
  const first = tiles[0]!.heatMap;
  if (!first) return { score };
  return { score, heatMap: stitch(tiles.map((t) => t.heatMap!), geometry, input) };
}

function stitch(maps: readonly HeatMap[], geometry: Geometry, input: Size): HeatMap {
  const { width: gw, height: gh } = maps[0]!;
  // One heat cell covers cellX × cellY input pixels; the stitched map has the same cell size.
  const cellX = input.width / gw;
  const cellY = input.height / gh;
  const width = Math.max(gw, Math.round(geometry.frame.width / cellX));
  const height = Math.max(gh, Math.round(geometry.frame.height / cellY));
  const data = new Float32Array(width * height).fill(-Infinity);
  tileOrigins(geometry, input).forEach((o, t) => {
    const m = maps[t]!;
    const ox = Math.min(width - gw, Math.round(o.x / cellX));
    const oy = Math.min(height - gh, Math.round(o.y / cellY));
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        const i = (oy + y) * width + ox + x;
        const v = m.data[y * gw + x]!;
        if (v > data[i]!) data[i] = v;
      }
    }
  });
  // Rounding can leave a cell between two tiles uncovered when the stride is not a whole number
  // of cells: it takes its left (or upper) neighbour's value.
  for (let i = 0; i < data.length; i++) if (data[i] === -Infinity) data[i] = i % width > 0 ? data[i - 1]! : i >= width ? data[i - width]! : 0;
  return { width, height, data };
}

/** One tile's outputs out of a batched run: every output's leading dimension is the tile. */
export function tileOfBatch(outputs: OutputTensors, tile: number, tiles: number): OutputTensors {
  const out: Record<string, { dims: readonly number[]; data: ArrayLike<number> }> = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== tiles) {
      throw new ModelPackageError(`graph output "${name}" has shape [${t.dims.join(',')}] for ${tiles} tiles in one run; with a free batch dimension every output must lead with it`);
    }
    const per = t.data.length / tiles;
    const data = t.data as Float32Array;
    out[name] = { dims: [1, ...t.dims.slice(1)], data: data.subarray(tile * per, (tile + 1) * per) };
  }
  return out;
}
