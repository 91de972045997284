// ELPV dev-set reading and the preprocessing the shipped model expects.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

export interface ElpvItem {
  /** Path relative to the dataset folder, as in labels.csv. */
  file: string;
  defectProbability: number;
  cellType: 'mono' | 'poly';
  label: 'good' | 'defect' | 'uncertain';
}

export async function readLabels(csvPath: string): Promise<ElpvItem[]> {
  const lines = (await fs.readFile(csvPath, 'utf8')).trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const col = (n: string): number => {
    const i = header.indexOf(n);
    if (i < 0) throw new Error(`${csvPath}: no column ${n}`);
    return i;
  };
  const [f, p, t, l] = [col('file'), col('defect_probability'), col('cell_type'), col('label')];
  return lines.slice(1).map((line) => {
    const c = line.split(',');
    return {
      file: c[f]!,
      defectProbability: Number(c[p]),
      cellType: c[t] as ElpvItem['cellType'],
      label: c[l] as ElpvItem['label'],
    };
  });
}

export interface Preprocess {
  width: number;
  height: number;
  scale: number;
  mean: readonly number[];
  std: readonly number[];
}

/** Decode, resize the whole cell to width×height, grey → RGB, normalise to NCHW float32. */
export async function imageToTensor(file: string, p: Preprocess): Promise<Float32Array> {
  const { data, info } = await sharp(file)
    .resize(p.width, p.height, { fit: 'fill' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = p.width * p.height;
  const out = new Float32Array(3 * plane);
  const ch = info.channels;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[i * ch + (ch >= 3 ? c : 0)]!;
      out[c * plane + i] = (v * p.scale - p.mean[c]!) / p.std[c]!;
    }
  }
  return out;
}

export function resolveDatasetDir(repoRoot: string): string {
  return process.env.VISOR_ELPV_DIR ?? path.resolve(repoRoot, '../shared/datasets/elpv-dev');
}
