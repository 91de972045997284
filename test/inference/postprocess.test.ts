import { describe, expect, it } from 'vitest';
import { ModelPackageError } from '../../src/common/errors.js';
import { createPostprocessor, iou, nms } from '../../src/inference/index.js';
import type { Box } from '../../src/common/types.js';
import * as ort from 'onnxruntime-node';
import { outputTensor } from '../../src/inference/session.js';
import { baseManifest } from './helpers.js';

const box = (x1: number, y1: number, size: number, label: string, score: number): Box => ({ x1, y1, x2: x1 + size, y2: y1 + size, label, score });

describe('nms', () => {
  it('computes IoU', () => {
    expect(iou(box(0, 0, 10, 'a', 1), box(5, 0, 10, 'a', 1))).toBeCloseTo(50 / 150, 6);
    expect(iou(box(0, 0, 10, 'a', 1), box(10, 0, 10, 'a', 1))).toBe(0);
  });

  it('keeps the best of overlapping same-class boxes, other classes and distant boxes', () => {
    const kept = nms([box(1, 1, 10, 'crack', 0.8), box(0, 0, 10, 'crack', 0.9), box(0, 0, 10, 'chip', 0.5), box(40, 40, 10, 'crack', 0.3)], 0.45, 10);
    expect(kept.map((b) => [b.label, b.score])).toEqual([['crack', 0.9], ['chip', 0.5], ['crack', 0.3]]);
  });

  it('keeps boxes whose overlap is at or under the IoU threshold', () => {
    const kept = nms([box(0, 0, 10, 'crack', 0.9), box(5, 0, 10, 'crack', 0.8)], 0.4, 10);
    expect(kept).toHaveLength(2);
  });

  it('stops at maxBoxes, highest scores first', () => {
    const boxes = [0.2, 0.9, 0.5, 0.7].map((s, i) => box(i * 20, 0, 10, 'crack', s));
    expect(nms(boxes, 0.5, 2).map((b) => b.score)).toEqual([0.9, 0.7]);
  });
});

describe('post-processing shape checks', () => {
  it('refuses a detection tensor whose dims fit neither YOLO layout', () => {
    const post = createPostprocessor(baseManifest('detection'));
    expect(() => post({ detections: { dims: [1, 7, 3], data: new Float32Array(21) } })).toThrow(ModelPackageError);
    expect(() => post({ detections: { dims: [1, 7, 3], data: new Float32Array(21) } })).toThrow('4 + 2 labels = 6 fits neither [1,6,N] nor [1,N,6]');
  });

  it('clips boxes to the input frame', () => {
    const post = createPostprocessor(baseManifest('detection'));
    const { boxes } = post({ detections: { dims: [1, 6, 1], data: Float32Array.from([60, 2, 20, 10, 0, 0.9]) } });
    expect(boxes![0]).toMatchObject({ x1: 50, y1: 0, x2: 64, y2: 7 });
  });

  it('refuses an anomaly score output with more than one value', () => {
    const post = createPostprocessor(baseManifest('anomaly'));
    expect(() => post({ score: { dims: [2], data: [1, 2] }, heatmap: { dims: [1, 1, 1, 1], data: [0] } })).toThrow(/expected one value/);
  });
});

describe('outputs that are not float32', () => {
  it('reads int64, bool and float16 tensors as numbers, and names a string output', () => {
    expect(Array.from(outputTensor('ids', new ort.Tensor('int64', BigInt64Array.from([3n, -1n]), [2])).data)).toEqual([3, -1]);
    expect(Array.from(outputTensor('mask', new ort.Tensor('bool', Uint8Array.from([1, 0]), [2])).data)).toEqual([1, 0]);
    // 0x3c00 = 1.0, 0xc000 = -2.0, 0x3555 ≈ 0.3333 in IEEE half precision.
    const half = Array.from(outputTensor('p', new ort.Tensor('float16', Uint16Array.from([0x3c00, 0xc000, 0x3555]), [3])).data);
    expect(half[0]).toBe(1);
    expect(half[1]).toBe(-2);
    expect(half[2]).toBeCloseTo(1 / 3, 3);
    expect(() => outputTensor('classLabel', new ort.Tensor('string', ['crack'], [1]))).toThrow(/"classLabel" is a string tensor/);
  });
});
