// A second backbone joined into the feature graph (the supervised head reads it): it must see
// exactly what it would see on its own (its scaling, channel order) although it is fed from the
// first backbone's preprocessed input, inside one ONNX graph.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveBackbone } from '../../../src/modelling/backbones/load.js';
import { createFeatureExtractor, type FeatureSpec } from '../../../src/modelling/fit/features.js';
import { imageFromFile } from '../../../src/inference/index.js';
import type { RawImage } from '../../../src/common/types.js';
import { ELPV, elpvRows } from './helpers.js';

/** A colour image whose three planes differ (ELPV cells are grey, so R = G = B there). */
function colourImage(size: number): RawImage {
  const data = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      data[i] = (x * 255) / size;
      data[i + 1] = (y * 255) / size;
      data[i + 2] = ((x + y) % 32) * 8;
    }
  }
  return { width: size, height: size, pixelFormat: 'rgb24', data };
}

function maxRelativeDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('second backbone in the feature graph', () => {
  it('gets the features it computes alone, from the first backbone’s input (scaling and channel order converted)', async () => {
    const first = await resolveBackbone('mobilenet_v2');
    const inception = await resolveBackbone('inception_v3');
    const primary: FeatureSpec = { backbone: first, layers: ['block_3_expand_relu'], inputSize: 128, input: first.input };
    const cell = await imageFromFile(path.join(ELPV, (await elpvRows()).find((r) => r.label === 'defect')!.file));
    // Inception's own scaling (x/255) differs from MobileNetV2's (x/127.5 − 1); the BGR variant
    // also makes the graph reorder the planes.
    for (const input of [inception.input, { ...inception.input, channels: 'BGR' as const }]) {
      const second: FeatureSpec = { backbone: inception, layers: ['mixed0'], inputSize: 128, input };
      const joint = await createFeatureExtractor(primary, 1, 1, second);
      const alone = await createFeatureExtractor(second, 1);
      try {
        expect(joint.secondLayout).toMatchObject({ channels: alone.layout.channels, height: alone.layout.height, width: alone.layout.width });
        for (const image of [cell, colourImage(200)]) {
          const a = await joint.extract(image, true);
          const b = await alone.extract(image);
          expect(a.second).toHaveLength(b.features.length);
          // Only images that need them (labelled ones) pay for the second backbone's features.
          expect((await joint.extract(image)).second).toBeUndefined();
          expect(maxRelativeDiff(a.second!, b.features)).toBeLessThan(1e-4);
        }
        // The channel order matters on a colour image: RGB features differ from BGR ones.
        if (input.channels === 'BGR') {
          const rgb = await createFeatureExtractor({ ...second, input: inception.input }, 1);
          try {
            const image = colourImage(200);
            expect(maxRelativeDiff((await rgb.extract(image)).features, (await alone.extract(image)).features)).toBeGreaterThan(0.01);
          } finally {
            await rgb.close();
          }
        }
      } finally {
        await joint.close();
        await alone.close();
      }
    }
  });

  it('resizes in the graph to the second backbone’s own input size', async () => {
    const first = await resolveBackbone('mobilenet_v2');
    const inception = await resolveBackbone('inception_v3');
    const joint = await createFeatureExtractor(
      { backbone: first, layers: ['block_3_expand_relu'], inputSize: 128, input: first.input },
      1,
      1,
      { backbone: inception, layers: ['mixed0'], inputSize: 160, input: inception.input },
    );
    const alone = await createFeatureExtractor({ backbone: inception, layers: ['mixed0'], inputSize: 160, input: inception.input }, 1);
    try {
      expect(joint.layout.height).toBe(4); // 128 / 32
      expect(joint.secondLayout).toMatchObject({ height: 5, width: 5 }); // 160 / 32
      // Resized twice (to 128 by the preprocessor, then to 160 in the graph) instead of once: close, not equal.
      const cell = await imageFromFile(path.join(ELPV, (await elpvRows())[0]!.file));
      const a = (await joint.extract(cell, true)).second!;
      const b = (await alone.extract(cell)).features;
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i]! * b[i]!;
        na += a[i]! ** 2;
        nb += b[i]! ** 2;
      }
      expect(dot / Math.sqrt(na * nb)).toBeGreaterThan(0.95);
    } finally {
      await joint.close();
      await alone.close();
    }
  });

  it('refuses to join graphs of different opsets, naming both', async () => {
    const pplcnet = await resolveBackbone('pplcnet'); // opset 11
    const inception = await resolveBackbone('inception_v3'); // opset 13
    await expect(
      createFeatureExtractor({ backbone: pplcnet, layers: pplcnet.defaultLayers, inputSize: 128, input: pplcnet.input }, 1, 1, {
        backbone: inception,
        layers: ['mixed0'],
        inputSize: 128,
        input: inception.input,
      }),
    ).rejects.toThrow(/opset 11 and 13/);
  });
});
