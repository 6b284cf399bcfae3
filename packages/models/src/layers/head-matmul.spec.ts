import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { attentionMatMul } from './head-matmul.js';

beforeAll(useCpuBackend);

function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const x = actual.dataSync();
  const y = expected.dataSync();
  for (let i = 0; i < x.length; i++)
    expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(y[i]!)));
}

describe('attentionMatMul', () => {
  it('split per head gives tf.matMul values and both gradients', () => {
    const a = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const b = tf.randomNormal([2, 3, 4, 6], 0, 1, 'float32', 2) as tf.Tensor4D;
    const weight = tf.randomNormal([2, 3, 5, 6], 0, 1, 'float32', 3);
    const loss = (f: (x: tf.Tensor4D, y: tf.Tensor4D) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(f(x as tf.Tensor4D, y as tf.Tensor4D), weight));
    for (const perHead of [true, false]) {
      const ours = attentionMatMul(a, b, perHead);
      const reference = tf.matMul(a, b);
      expectClose(ours, reference);
      const [da, db] = tf.grads(loss((x, y) => attentionMatMul(x, y, perHead)))([a, b]);
      const [ra, rb] = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
      expectClose(da!, ra!);
      expectClose(db!, rb!);
      tf.dispose([ours, reference, da!, db!, ra!, rb!]);
    }
    tf.dispose([a, b, weight]);
  });
});
