import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DenseLinear } from './dense-linear.js';
import { ShapeMismatchError } from './errors.js';
import { toFloat32 } from './host-tensor.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

// y[b, o] = sum_i x[b, i] * W[o, i] + bias[o], computed with plain loops as the oracle.
function referenceLinear(x: number[][], w: number[][], bias: number[]): number[][] {
  return x.map((row) => w.map((wRow, o) => wRow.reduce((s, wi, i) => s + wi * row[i]!, bias[o]!)));
}

describe('DenseLinear', () => {
  const w = [
    [1, 2, 3],
    [-1, 0.5, 4],
  ];
  const bias = [0.25, -2];

  it('reports the logical [out, in] shape and computes x·Wᵀ + b on any leading dims', () => {
    const layer = DenseLinear.fromArray(new Float32Array(w.flat()), 2, 3, new Float32Array(bias));
    expect([layer.outFeatures, layer.inFeatures]).toEqual([2, 3]);
    const x = [
      [0.5, -1, 2],
      [3, 1, 0],
      [1, 1, 1],
      [0, 0, -1],
    ];
    const y = tf.tidy(() => layer.forward(tf.tensor3d(x.flat(), [2, 2, 3])));
    expect(y.shape).toEqual([2, 2, 2]);
    const expected = referenceLinear(x, w, bias).flat();
    const got = Array.from(y.dataSync());
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(expected[i]!, 5);
    y.dispose();
    layer.dispose();
  });

  it('is differentiable with respect to x: dx = dy·W', () => {
    const layer = DenseLinear.fromArray(new Float32Array(w.flat()), 2, 3);
    const dx = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(layer.forward(x)))(tf.ones([1, 3])));
    // d/dx_i sum_o y_o = sum_o W[o, i]
    expect(Array.from(dx.dataSync())).toEqual([0, 2.5, 7]);
    dx.dispose();
    layer.dispose();
  });

  it('round-trips through dequantize, requantize and stateDict', () => {
    const layer = DenseLinear.fromArray(new Float32Array(w.flat()), 2, 3, new Float32Array(bias));
    const dq = layer.dequantize();
    expect(Array.from(dq.dataSync())).toEqual(w.flat());
    const again = layer.requantize(dq);
    const sd = again.stateDict('model.proj.');
    expect([...sd.keys()]).toEqual(['model.proj.weight', 'model.proj.bias']);
    expect(sd.get('model.proj.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(toFloat32(sd.get('model.proj.weight')!))).toEqual(w.flat());
    expect(layer.storageBytes).toBe(24);
    dq.dispose();
    again.dispose();
    layer.dispose();
  });

  it('rejects inputs and weights of the wrong shape with a typed error', () => {
    const layer = DenseLinear.fromArray(new Float32Array(w.flat()), 2, 3);
    const x = tf.ones([4, 5]);
    expect(() => layer.forward(x)).toThrow(ShapeMismatchError);
    const bad = tf.ones([3, 3]) as tf.Tensor2D;
    expect(() => layer.requantize(bad)).toThrow(/expected \[2, 3\]/);
    tf.dispose([x, bad]);
    layer.dispose();
  });

  it('does not leak tensors across forward calls', () => {
    const layer = DenseLinear.fromArray(new Float32Array(w.flat()), 2, 3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose(tf.tidy(() => layer.forward(tf.ones([2, 3]))));
    expect(tf.memory().numTensors).toBe(before);
    layer.dispose();
  });
});
