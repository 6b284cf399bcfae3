import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bnb4Linear, bnb4MatmulTransposed, WASM_DENSE_TRANSPOSED_MIN_ROWS } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectWithin } from '../../test-support/compare.js';
import { FP4_CODE, randomActivations, randomBnb4Arrays } from '../../test-support/random.js';
import {
  fixed16TransposedTolerance,
  float32TransposedTolerance as transposedTolerance,
} from '../../test-support/tolerances.js';
import { bnb4DequantizeImpl } from '../bnb4-dequantize/reference.js';
import { BNB4_EXACT_FLAG } from '../bnb4-shared/flags.js';
import { bnb4MatmulTransposedImpl } from './reference.js';

/** Whether the wasm backend takes the fixed-point kernel for this weight (else the exact float32 one). */
function fixedPoint(backend: string, w: { inFeatures: number; blocksize: number }): boolean {
  return backend === 'wasm' && w.inFeatures % 64 === 0 && w.blocksize >= 64;
}

const CASES = [
  { rows: 1, outFeatures: 3, inFeatures: 64, blocksize: 64, nested: false },
  { rows: 5, outFeatures: 7, inFeatures: 128, blocksize: 128, nested: true },
  { rows: 3, outFeatures: 9, inFeatures: 200, blocksize: 64, nested: true },
  { rows: 1, outFeatures: 5, inFeatures: 33, blocksize: 32, nested: false, fp4: true },
  { rows: 2, outFeatures: 6, inFeatures: 37, blocksize: 4096, nested: true },
  // From WASM_DENSE_TRANSPOSED_MIN_ROWS rows on: dequantize + matMul where the fixed-point kernel does not apply,
  // the fixed-point kernel where it does.
  { rows: WASM_DENSE_TRANSPOSED_MIN_ROWS, outFeatures: 8, inFeatures: 96, blocksize: 64, nested: true },
  { rows: WASM_DENSE_TRANSPOSED_MIN_ROWS + 1, outFeatures: 19, inFeatures: 128, blocksize: 64, nested: true },
  // Several 16-row chunks of W with an odd, partial last one; one and several rows of dy; nested scales whose
  // rows cross a nested-absmax boundary (blocks 255 | 256 lie in row 63 of a 256-column weight).
  { rows: 1, outFeatures: 37, inFeatures: 256, blocksize: 64, nested: true },
  { rows: 3, outFeatures: 37, inFeatures: 256, blocksize: 64, nested: true },
  { rows: 1, outFeatures: 70, inFeatures: 256, blocksize: 64, nested: true },
  { rows: 2, outFeatures: 16, inFeatures: 192, blocksize: 64, nested: false },
  { rows: 4, outFeatures: 5, inFeatures: 128, blocksize: 256, nested: false, fp4: true },
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
      fixedPoint(backend, c)
        ? fixed16TransposedTolerance(dy, c.rows, arrays)
        : transposedTolerance(dy, c.rows, arrays),
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
    const tolerance = fixedPoint(backend, arrays)
      ? fixed16TransposedTolerance(up, 3, arrays)
      : transposedTolerance(up, 3, arrays);
    expectWithin(
      fused.dataSync(),
      composed.dataSync(),
      tolerance.map((t) => 2 * t),
      'dx',
    );
    tf.dispose([x, upstream, dense, fused, composed]);
    disposeBnb4Weights(w);
  });

  it.each([1, 3])('cannot overflow its integer sums when every product is the largest (%i rows)', (rows) => {
    // Every code is max|code| and every s = dy * A the largest of its chunk: 16 rows put 16 products of
    // 8192 * 16383 in each i32 lane, the most the kernel allows itself.
    const arrays = randomBnb4Arrays({ outFeatures: 48, inFeatures: 128, blocksize: 64 });
    arrays.packed.fill(0xff);
    (arrays.absmax as Float32Array).fill(0.5);
    const dy = new Float32Array(rows * 48).fill(-7);
    const w = bnb4WeightsFromArrays(arrays);
    const dyt = tf.tensor2d(dy, [rows, 48]);
    const dx = bnb4MatmulTransposed(dyt, w);
    const tolerance = fixedPoint(backend, arrays)
      ? fixed16TransposedTolerance(dy, rows, arrays)
      : transposedTolerance(dy, rows, arrays);
    expectWithin(dx.dataSync(), bnb4MatmulTransposedImpl(dy, rows, arrays), tolerance, 'largest products');
    tf.dispose([dyt, dx]);
    disposeBnb4Weights(w);
  });

  it('propagates NaN and ±Inf in dy like float32 (exactly the rows that hold them)', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 20, inFeatures: 128, blocksize: 64, nested: true });
    const dy = randomActivations(3, 20, 5);
    dy[3] = Number.NaN;
    dy[20 + 17] = Number.POSITIVE_INFINITY;
    const w = bnb4WeightsFromArrays(arrays);
    const dyt = tf.tensor2d(dy, [3, 20]);
    const dx = bnb4MatmulTransposed(dyt, w).dataSync();
    const expected = bnb4MatmulTransposedImpl(dy, 3, arrays);
    expect(Array.from(dx.slice(0, 128)).every(Number.isNaN)).toBe(true);
    for (let k = 128; k < 256; k++) expect(Object.is(dx[k], expected[k]) || dx[k] === expected[k]).toBe(true);
    expectWithin(dx.slice(256), expected.slice(256), transposedTolerance(dy.slice(40), 1, arrays), 'row 2');
    tf.dispose([dyt]);
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

describe('bnb4MatmulTransposed on wasm, exact kernel', () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => tf.env().set(BNB4_EXACT_FLAG, false));

  it(`takes the exact float32 kernel when ${BNB4_EXACT_FLAG} is set`, () => {
    const arrays = randomBnb4Arrays({ outFeatures: 40, inFeatures: 256, blocksize: 64, nested: true });
    const dy = randomActivations(2, 40, 11);
    const w = bnb4WeightsFromArrays(arrays);
    const dyt = tf.tensor2d(dy, [2, 40]);
    tf.env().set(BNB4_EXACT_FLAG, true);
    const dx = bnb4MatmulTransposed(dyt, w);
    expectWithin(
      dx.dataSync(),
      bnb4MatmulTransposedImpl(dy, 2, arrays),
      transposedTolerance(dy, 2, arrays),
      'exact',
    );
    tf.dispose([dyt, dx]);
    disposeBnb4Weights(w);
  });
});
