// The built-in ImageNet-derived backbones, converted from the TensorFlow.js models in the npm
// package nsfwjs. scripts/build-backbones.ts writes them to models/backbones/<name>/; the same
// function rebuilds them in tests to prove the committed files are reproducible.
import { createHash } from 'node:crypto';
import type { BackboneManifest } from '../backbones/manifest.js';
import { convertLayersModel, type ConvertResult } from './keras-to-onnx.js';
import { nsfwjsVersion, readNsfwjsModel, type NsfwjsModelName } from './nsfwjs.js';

export interface BuiltinBackboneSpec {
  name: string;
  description: string;
  source: NsfwjsModelName;
  inputSize: number;
  /** Pixel p becomes (p * scale - mean) / std. */
  scaling: { scale: number; mean: number[]; std: number[]; note: string };
  /** Keras layers offered as graph outputs (the graph ends at the deepest one). */
  layers: string[];
  defaultLayers: string[];
  /** Why these layers and scaling. */
  evidence: string;
}

// Evidence: the shared research note anomaly-heads-on-elpv.md (5-fold CV on ELPV dev cells).
export const BUILTIN_BACKBONES: readonly BuiltinBackboneSpec[] = [
  {
    name: 'mobilenet_v2',
    description: 'MobileNetV2 (alpha 1.0) early/middle inverted-residual expansions; ImageNet-pretrained, fine-tuned by nsfwjs',
    source: 'mobilenet_v2',
    inputSize: 256,
    // x/127.5 − 1 = (x/255 − 0.5)/0.5: MobileNetV2's own preprocessing, best in the research.
    scaling: { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], note: 'x/127.5 - 1' },
    layers: [
      'block_2_expand_relu',
      'block_3_expand_relu',
      'block_4_expand_relu',
      'block_5_expand_relu',
      'block_6_expand_relu',
      'block_12_expand_relu',
      'block_13_expand_relu',
    ],
    defaultLayers: ['block_3_expand_relu', 'block_4_expand_relu', 'block_6_expand_relu'],
    evidence: 'block_3+4+6_expand_relu at 256 px, x/127.5-1: unsupervised AUROC 0.910 ± 0.010 (PatchCore-local per cell type)',
  },
  {
    name: 'inception_v3',
    description: 'InceptionV3 stem and mixed0–mixed5 blocks; ImageNet-pretrained, fine-tuned by nsfwjs',
    source: 'inception_v3',
    inputSize: 299,
    // x/255 was best for mixed5 with a PatchCore head; x/127.5-1 for mixed2+mixed5 with a linear head.
    scaling: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], note: 'x/255' },
    layers: ['mixed0', 'mixed1', 'mixed2', 'mixed3', 'mixed4', 'mixed5'],
    defaultLayers: ['mixed2', 'mixed5'],
    evidence:
      'mixed5 at 299 px, x/255: unsupervised AUROC 0.897 ± 0.011; mixed2+mixed5, x/127.5-1, logistic regression: 0.947 ± 0.015',
  },
];

export interface BuiltBackbone {
  onnx: Uint8Array;
  manifest: BackboneManifest;
  conversion: ConvertResult;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Converts one built-in backbone from nsfwjs; deterministic, so the sha256 is stable. */
export function buildBuiltinBackbone(spec: BuiltinBackboneSpec): BuiltBackbone {
  const art = readNsfwjsModel(spec.source);
  const conversion = convertLayersModel(art, {
    outputs: spec.layers,
    inputSize: spec.inputSize,
    // The shipped weights are uint8 already; keeping them so is lossless and ~4× smaller than float32.
    weightStorage: 'uint8',
    graphName: spec.name,
    docString: `${spec.description}. Converted from nsfwjs@${nsfwjsVersion()} dist/models/${spec.source} by visor (MIT).`,
  });
  const manifest: BackboneManifest = {
    name: spec.name,
    description: spec.description,
    input: {
      name: conversion.inputName,
      size: spec.inputSize,
      channels: 'RGB',
      scale: spec.scaling.scale,
      mean: spec.scaling.mean,
      std: spec.scaling.std,
    },
    layers: conversion.outputs.map((o) => ({ name: o.name, channels: o.channels, stride: o.stride })),
    defaultLayers: spec.defaultLayers,
    provenance: {
      source: `npm:nsfwjs@${nsfwjsVersion()}`,
      path: `dist/models/${spec.source}`,
      licence: 'MIT (Copyright (c) 2019 Infinite Red, Inc.; see LICENSE)',
      training: 'Keras applications weights pretrained on ImageNet, then fine-tuned by nsfwjs as a 5-class image classifier; weights shipped as uint8 (min/scale per tensor)',
      conversion:
        'TensorFlow.js layers model → ONNX (opset 13) by src/inference/convert via scripts/build-backbones.ts; batch norm folded into convolutions, uint8 kernels kept and dequantised in-graph',
      scaling: spec.scaling.note,
      evidence: spec.evidence,
      layoutNote: 'input NCHW float32 [1,3,H,W] (H, W free; measured at input.size); outputs NCHW feature maps',
    },
    sha256: sha256(conversion.onnx),
  };
  return { onnx: conversion.onnx, manifest, conversion };
}
