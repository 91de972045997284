/// <reference lib="dom" />
// One heat-map renderer, one scale (issue 17 item 1): the colour of a heat-map value is the
// same in Live, in a stored inspection's overlay (rendered on demand from the stored heat map)
// and in `visor eval --out`, and each shows a legend with the threshold. Read in headless
// Chromium, as a reviewer's browser decodes them.
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/common/log.js';
import { createInferencer, heatColour, imageFromFile, loadModelPackage, type Inferencer } from '../../src/inference/index.js';
import { evaluateModel } from '../../src/modelling/fit/eval.js';
import { createUserStore } from '../../src/review/index.js';
import type { HeatMap, Inspection } from '../../src/common/types.js';
import { launchBrowser } from '../helpers/browser.js';
import { DEMO_MODEL } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const GREY = 96;
const SIZE = 320;
const THRESHOLD = 1;
/** The known heat value every cell of the line's heat map has: 1.5 × threshold, orange on the scale. */
const VALUE = 1.5;

let dir: string;
let cleanup: () => Promise<void>;
let app: App;
let browser: Browser;
let page: Page;
let real: Inferencer;
const stored: Inspection[] = [];

/** The demo model, with every heat-map cell set to VALUE: the test is about colour, not about the model. */
function knownHeat(inner: Inferencer): Inferencer {
  return {
    ...inner,
    manifest: inner.manifest,
    inputSize: inner.inputSize,
    geometry: inner.geometry,
    infer: async (image) => {
      const r = await inner.infer(image);
      const heatMap: HeatMap = { width: 8, height: 8, data: new Float32Array(64).fill(VALUE) };
      return { ...r, output: { ...r.output, score: VALUE, heatMap } };
    },
    runRaw: (input) => inner.runRaw(input),
    close: () => inner.close(),
  };
}

/** Expected RGB of a heat value over the grey image: the colour blended at its alpha. */
function expected(value: number, threshold: number): number[] {
  const [r, g, b, a] = heatColour(value, threshold);
  return [r, g, b].map((c) => Math.round(GREY * (1 - a / 255) + c * (a / 255)));
}

/** RGB of pixel (x, y) of a JPEG as Chromium decodes it. */
async function pixel(jpeg: Buffer, x: number, y: number): Promise<number[]> {
  const src = `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  return page.evaluate(
    async ({ src, x, y }) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
    },
    { src, x, y },
  );
}

const distance = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

/** The legend: its left end is the bottom of the scale (blue), the tick at its middle (the threshold) white. */
async function expectLegend(jpeg: Buffer): Promise<void> {
  const { width, height } = await sharp(jpeg).metadata();
  const unit = Math.min(width!, height!);
  const margin = Math.round(Math.max(4, unit / 50));
  const barWidth = Math.round(Math.min(width! * 0.4, Math.max(120, unit * 0.5)));
  const barHeight = Math.round(Math.max(6, unit / 40));
  const y = height! - margin - Math.round(barHeight / 2);
  const [r, , b] = await pixel(jpeg, margin + 3, y);
  expect(b! - r!).toBeGreaterThan(60);
  const tick = await pixel(jpeg, margin + Math.round(barWidth / 2), y);
  expect(Math.min(...tick)).toBeGreaterThan(180);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  // A folder camera showing one plain grey picture: every overlay pixel is grey + the heat colour.
  const frames = path.join(dir, 'frames');
  await mkdir(frames);
  await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toFile(path.join(frames, 'grey.png'));
  real = await createInferencer({ pkg: await loadModelPackage(DEMO_MODEL), threads: 1, log: silentLogger() });
  const config = parseConfig({
    cameras: [{ id: 'cells', source: frames, fps: 4, loop: true }],
    model: { package: DEMO_MODEL, thresholds: { defect: THRESHOLD, uncertainBand: 0.04 } },
    store: { dataDir: path.join(dir, 'data') },
    review: { port: 0 },
  });
  app = await createApp({ config, baseDir: dir, log: silentLogger(), inferencer: knownHeat(real) });
  await createUserStore({ db: app.store.db }).add({ name: 'quinn', role: 'engineer', password: 'line-3-quality' });
  app.bus.on('inspection', ({ inspection }) => stored.push(inspection));
  await app.start();
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.goto(app.reviewUrl!);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await cleanup?.();
});

async function get(url: string): Promise<Buffer> {
  const login = await fetch(`${app.reviewUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'quinn', password: 'line-3-quality' }) });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const res = await fetch(`${app.reviewUrl}${url}`, { headers: { cookie } });
  expect(res.status, url).toBe(200);
  expect(res.headers.get('content-type')).toBe('image/jpeg');
  return Buffer.from(await res.arrayBuffer());
}

describe('one heat-map scale', () => {
  it('colours a known heat value alike in Live and in a stored overlay, each with a legend marking the threshold', async () => {
    await until('a defect with its image stored', () => stored.some((i) => i.verdict === 'defect' && i.imagePath !== undefined), 60_000);
    const defect = stored.find((i) => i.verdict === 'defect' && i.imagePath !== undefined)!;
    // No overlay file is written any more: the heat map is stored as data and rendered on request.
    expect(defect.overlayPath).toBeUndefined();
    expect(defect.overlayData).toBe(true);
    expect(app.store.overlayData(defect.id)?.heatMap?.data).toEqual(new Float32Array(64).fill(VALUE));

    const storedJpeg = await get(`/api/inspections/${defect.id}/overlay`);
    const liveJpeg = await get('/api/live/cells/frame.jpg');
    const want = expected(VALUE, THRESHOLD);
    // Away from the legend (bottom-left) and the peak ring (a flat map has no peak).
    const inStored = await pixel(storedJpeg, SIZE / 2, SIZE / 3);
    const liveSize = (await sharp(liveJpeg).metadata()).width!;
    const inLive = await pixel(liveJpeg, liveSize / 2, liveSize / 3);
    expect(distance(inStored, want), `stored ${inStored} vs ${want}`).toBeLessThan(10);
    expect(distance(inLive, want), `live ${inLive} vs ${want}`).toBeLessThan(10);
    expect(distance(inStored, inLive)).toBeLessThan(10);
    // Not grey: the colour is there to compare.
    expect(distance(want, [GREY, GREY, GREY])).toBeGreaterThan(40);
    await expectLegend(storedJpeg);
    await expectLegend(liveJpeg);
  });

  it('renders the same colour for the same value in `visor eval --out`', async () => {
    // The grey picture labelled good scores above the demo model's threshold: a false alarm, so eval writes its overlay.
    const data = path.join(dir, 'eval-data');
    await mkdir(data, { recursive: true });
    await copyFile(path.join(dir, 'frames', 'grey.png'), path.join(data, 'grey.png'));
    await writeFile(path.join(data, 'labels.csv'), 'file,label\ngrey.png,good\n');
    const out = path.join(dir, 'eval-out');
    const { report } = await evaluateModel({ modelDir: DEMO_MODEL, dataDir: data, outDir: out }, { log: silentLogger() });
    const threshold = report.threshold;
    const file = (await readdir(out)).find((f) => f.startsWith('false-alarm-'));
    expect(file, 'eval wrote the false alarm overlay').toBeDefined();
    const jpeg = await readFile(path.join(out, file!));
    // The model's own heat value at a cell centre, on the image as eval scored it.
    const output = (await real.infer(await imageFromFile(path.join(data, 'grey.png')))).output;
    const cell = { x: 4, y: 2 };
    const value = output.heatMap!.data[cell.y * output.heatMap!.width + cell.x]!;
    const at = await pixel(jpeg, Math.round(((cell.x + 0.5) / 8) * SIZE), Math.round(((cell.y + 0.5) / 8) * SIZE));
    expect(distance(at, expected(value, threshold)), `eval ${at} for value ${value}`).toBeLessThan(14);
    await expectLegend(jpeg);
  });
});
