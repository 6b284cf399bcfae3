import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bnb4Linear, bnb4MatmulTransposed, WASM_DENSE_TRANSPOSED_MIN_ROWS } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectWithin } from '../../test-support/compare.js';
import { FP4_CODE, randomActivations, randomBnb4Arrays } from '../../test-support/random.js';
import { FLOAT32_SUM_TOLERANCE } from '../../test-support/tolerances.js';
import { bnb4DequantizeImpl } from '../bnb4-dequantize/reference.js';
import type { Bnb4Arrays } from '../bnb4-shared/arrays.js';
import { bnb4MatmulTransposedImpl } from './reference.js';

/** Per dx[m, k]: FLOAT32_SUM_TOLERANCE * sum_n |dy[m, n] W[n, k]|. */
function transposedTolerance(dy: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K } = w;
  const weight = bnb4DequantizeImpl(w);
  const tol = new Float32Array(rows * K);
  for (let m = 0; m < rows; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += Math.abs(dy[m * N + n]! * weight[n * K + k]!);
      tol[m * K + k] = FLOAT32_SUM_TOLERANCE * s + 1e-30;
    }
  }
  return tol;
}

const CASES = [
  { rows: 1, outFeatures: 3, inFeatures: 64, blocksize: 64, nested: false },
  { rows: 5, outFeatures: 7, inFeatures: 128, blocksize: 128, nested: true },
  { rows: 3, outFeatures: 9, inFeatures: 200, blocksize: 64, nested: true },
  { rows: 1, outFeatures: 5, inFeatures: 33, blocksize: 32, nested: false, fp4: true },
  { rows: 2, outFeatures: 6, inFeatures: 37, blocksize: 4096, nested: true },
  { rows: WASM_DENSE_TRANSPOSED_MIN_ROWS, outFeatures: 8, inFeatures: 96, blocksize: 64, nested: true },
  ...[32, 64, 128, 256, 512, 1024, 2048, 4096].map((blocksize) => ({
    rows: 2,
    outFeatures: 5,
    inFeatures: 51,
    blocksize,
    nested: blocksize >= 512,
  })),
];

describe.each(NODE_BACKENDS)('bnb4MatmulTransposed and the bnb4Linear gradient on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(CASES)('dy·W agrees with the reference for %o', (c) => {
    const arrays = randomBnb4Arrays({
      ...c,
      code: 'fp4' in c ? FP4_CODE : undefined,
      seed: c.inFeatures + c.blocksize,
    });
    const dy = randomActivations(c.rows, c.outFeatures, c.inFeatures);
    const w = bnb4WeightsFromArrays(arrays);
    const dyt = tf.tensor2d(dy, [c.rows, c.outFeatures]);
    const dx = bnb4MatmulTransposed(dyt, w);
    expect(dx.shape).toEqual([c.rows, c.inFeatures]);
    expectWithin(
      dx.dataSync(),
      bnb4MatmulTransposedImpl(dy, c.rows, arrays),
      transposedTolerance(dy, c.rows, arrays),
      JSON.stringify(c),
    );
    tf.dispose([dyt, dx]);
    disposeBnb4Weights(w);
  });

  it('bnb4Linear differentiates like matMul(x, Wᵀ) composed from tf ops', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 12, inFeatures: 128, blocksize: 64, nested: true });
    const w = bnb4WeightsFromArrays(arrays);
    const x = tf.tensor2d(randomActivations(3, 128), [3, 128]);
    const upstream = tf.tensor2d(randomActivations(3, 12, 99), [3, 12]);
    const dense = tf.tensor2d(bnb4DequantizeImpl(arrays), [12, 128]);
    const fused = tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(bnb4Linear(input as tf.Tensor2D, w), upstream)),
    )(x);
    const composed = tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(tf.matMul(input as tf.Tensor2D, dense, false, true), upstream)),
    )(x);
    const up = upstream.dataSync() as Float32Array;
    expectWithin(
      fused.dataSync(),
      composed.dataSync(),
      transposedTolerance(up, 3, arrays).map((t) => 2 * t),
      'dx',
    );
    tf.dispose([x, upstream, dense, fused, composed]);
    disposeBnb4Weights(w);
  });

  it('keeps tf.memory().numTensors flat across training steps through bnb4Linear', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 16, inFeatures: 64, blocksize: 64 });
    const w = bnb4WeightsFromArrays(arrays);
    const adapter = tf.variable(tf.eye(64));
    const optimizer = tf.train.sgd(0.01);
    const x = tf.tensor2d(randomActivations(4, 64), [4, 64]);
    const step = () =>
      optimizer.minimize(
        () =>
          tf.mean(
            tf.square(tf.add(bnb4Linear(tf.matMul(x, tf.transpose(adapter)) as tf.Tensor2D, w), 1)),
          ) as tf.Scalar,
      );
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, adapter]);
    optimizer.dispose();
    disposeBnb4Weights(w);
  });
});
