import { ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { rmsNorm } from '../../ops/rms-norm.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectWithin } from '../../test-support/compare.js';
import { randomActivations } from '../../test-support/random.js';
import { rmsNormGradImpl } from '../rms-norm-grad/reference.js';
import { rmsNormImpl } from './reference.js';

/** tolerance_i = 2e-5 * (|expected_i| + rms(expected)): float32 rounding of a few dozen operations per element. */
function relativeTolerance(expected: ArrayLike<number>): Float32Array {
  let sumSquares = 0;
  for (let i = 0; i < expected.length; i++) sumSquares += expected[i]! * expected[i]!;
  const rms = Math.sqrt(sumSquares / Math.max(1, expected.length));
  return Float32Array.from(expected, (e) => 2e-5 * (Math.abs(e) + rms));
}

function composedRmsNorm(x: tf.Tensor, w: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))), w);
}

const SHAPES: [number[], number][] = [
  [[1, 8], 1e-6],
  [[2, 3, 64], 1e-5],
  [[5, 33], 1e-6],
  [[4, 4096], 1e-6],
];

describe.each(NODE_BACKENDS)('rmsNorm on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(SHAPES)('forward of %j agrees with the reference and with composed tf ops', (shape, epsilon) => {
    const D = shape[shape.length - 1]!;
    const rows = shape.reduce((a, b) => a * b, 1) / D;
    const xv = randomActivations(rows, D, D);
    const wv = randomActivations(1, D, D + 1);
    const x = tf.tensor(xv, shape);
    const w = tf.tensor1d(wv);
    const y = rmsNorm(x, w, epsilon);
    expect(y.shape).toEqual(shape);
    const reference = new Float32Array(rows * D);
    rmsNormImpl(xv, wv, rows, D, epsilon, reference);
    expectWithin(y.dataSync(), reference, relativeTolerance(reference), 'vs reference');
    const composed = tf.tidy(() => composedRmsNorm(x, w, epsilon));
    expectWithin(y.dataSync(), composed.dataSync(), relativeTolerance(reference), 'vs composed');
    tf.dispose([x, w, y, composed]);
  });

  it.each(SHAPES)(
    'gradients of %j wrt x and weight agree with the reference and with composed tf ops',
    (shape, epsilon) => {
      const D = shape[shape.length - 1]!;
      const rows = shape.reduce((a, b) => a * b, 1) / D;
      const xv = randomActivations(rows, D, 3 * D);
      const wv = randomActivations(1, D, 5 * D);
      const up = randomActivations(rows, D, 7 * D);
      const x = tf.tensor(xv, shape);
      const w = tf.tensor1d(wv);
      const upstream = tf.tensor(up, shape);
      const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(f(a, b), upstream));
      const [dx, dw] = tf.grads(loss((a, b) => rmsNorm(a, b as tf.Tensor1D, epsilon)))([x, w]);
      const [cdx, cdw] = tf.grads(loss((a, b) => composedRmsNorm(a, b, epsilon)))([x, w]);
      const rdx = new Float32Array(rows * D);
      const rdw = new Float32Array(D);
      rmsNormGradImpl(up, xv, wv, rows, D, epsilon, rdx, rdw);
      expect(dx!.shape).toEqual(shape);
      expectWithin(dx!.dataSync(), rdx, relativeTolerance(rdx), 'dx vs reference');
      expectWithin(dw!.dataSync(), rdw, relativeTolerance(rdw), 'dweight vs reference');
      expectWithin(dx!.dataSync(), cdx!.dataSync(), relativeTolerance(rdx), 'dx vs composed');
      expectWithin(dw!.dataSync(), cdw!.dataSync(), relativeTolerance(rdw), 'dweight vs composed');
      tf.dispose([x, w, upstream, dx!, dw!, cdx!, cdw!]);
    },
  );

  it('keeps tf.memory().numTensors flat across training steps', () => {
    const weight = tf.variable(tf.ones([16]));
    const x = tf.tensor2d(randomActivations(4, 16), [4, 16]);
    const optimizer = tf.train.sgd(0.1);
    const step = () =>
      optimizer.minimize(() => tf.sum(tf.square(rmsNorm(x, weight as unknown as tf.Tensor1D))) as tf.Scalar);
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([weight, x]);
    optimizer.dispose();
  });

  it('rejects a weight that does not match the last axis, naming both shapes', () => {
    const x = tf.ones([2, 8]);
    const w = tf.ones([7]) as tf.Tensor1D;
    expect(() => rmsNorm(x, w)).toThrow(ShapeMismatchError);
    expect(() => rmsNorm(x, w)).toThrow(/\[2,8\].*\[7\]/);
    tf.dispose([x, w]);
  });
});
