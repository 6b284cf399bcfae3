import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bnb4Matmul } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectWithin } from '../../test-support/compare.js';
import { FP4_CODE, randomActivations, randomBnb4Arrays } from '../../test-support/random.js';
import { fixed16Tolerance, float32Tolerance } from '../../test-support/tolerances.js';
import type { WasmBackendLike } from '../backend-access.js';
import { bnb4DequantizeImpl } from '../bnb4-dequantize/reference.js';
import { blockCount, blockScaleImpl } from '../bnb4-shared/arrays.js';
import { BNB4_EXACT_FLAG } from '../bnb4-shared/flags.js';
import { bnb4Simd } from '../wasm-module/instance.js';
import { bnb4MatmulImpl } from './reference.js';

interface Case {
  rows: number;
  outFeatures: number;
  inFeatures: number;
  blocksize: number;
  nested: boolean;
  fp4?: boolean;
}

const CASES: Case[] = [
  { rows: 1, outFeatures: 3, inFeatures: 64, blocksize: 64, nested: false },
  { rows: 1, outFeatures: 16, inFeatures: 128, blocksize: 64, nested: true },
  { rows: 5, outFeatures: 7, inFeatures: 128, blocksize: 128, nested: true },
  { rows: 4, outFeatures: 6, inFeatures: 192, blocksize: 256, nested: false, fp4: true },
  { rows: 9, outFeatures: 5, inFeatures: 256, blocksize: 4096, nested: true }, // blocks span rows; 4-row tiles + rest
  { rows: 3, outFeatures: 9, inFeatures: 200, blocksize: 64, nested: true }, // K not a multiple of 64
  { rows: 1, outFeatures: 5, inFeatures: 33, blocksize: 32, nested: false }, // odd K, partial last block
  { rows: 2, outFeatures: 4, inFeatures: 50, blocksize: 128, nested: false, fp4: true },
  // One row of x: 5 groups per row (pairs of groups, then one; scales four at a time, then one), and rows whose
  // blocks cross a nested-absmax boundary (blocks 255 | 256 lie in row 51).
  { rows: 1, outFeatures: 60, inFeatures: 320, blocksize: 64, nested: true },
  { rows: 1, outFeatures: 6, inFeatures: 320, blocksize: 64, nested: false },
  { rows: 1, outFeatures: 5, inFeatures: 256, blocksize: 128, nested: true },
  // More rows than one cached block of x (32), odd, with outFeatures not a multiple of the 4-row tile.
  { rows: 35, outFeatures: 7, inFeatures: 192, blocksize: 64, nested: true },
  ...[32, 64, 128, 256, 512, 1024, 2048, 4096].flatMap((blocksize) => [
    { rows: 2, outFeatures: 5, inFeatures: 128, blocksize, nested: blocksize >= 256 },
    { rows: 1, outFeatures: 3, inFeatures: 50, blocksize, nested: blocksize < 256 },
  ]),
];

function scales(w: ReturnType<typeof randomBnb4Arrays>): Float32Array {
  return Float32Array.from({ length: blockCount(w) }, (_, b) => blockScaleImpl(w, b));
}

describe.each(NODE_BACKENDS)('bnb4Matmul on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  afterEach(() => tf.env().set(BNB4_EXACT_FLAG, false));

  it.each(CASES)('agrees with the reference for %o', (c) => {
    const arrays = randomBnb4Arrays({
      ...c,
      code: c.fp4 ? FP4_CODE : undefined,
      seed: c.inFeatures * 31 + c.blocksize,
    });
    const x = randomActivations(c.rows, c.inFeatures, c.rows + c.outFeatures);
    const w = bnb4WeightsFromArrays(arrays);
    const xt = tf.tensor2d(x, [c.rows, c.inFeatures]);
    const y = bnb4Matmul(xt, w);
    expect(y.shape).toEqual([c.rows, c.outFeatures]);
    const fixedPoint = backend === 'wasm' && c.inFeatures % 64 === 0 && c.blocksize >= 64;
    const tolerance = fixedPoint
      ? fixed16Tolerance(x, c.rows, arrays, scales(arrays))
      : float32Tolerance(x, c.rows, arrays);
    expectWithin(y.dataSync(), bnb4MatmulImpl(x, c.rows, arrays), tolerance, JSON.stringify(c));
    tf.dispose([xt, y]);
    disposeBnb4Weights(w);
  });

  it('agrees with dequantize + tf.matMul (the composed path)', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 24, inFeatures: 320, blocksize: 64, nested: true });
    const w = bnb4WeightsFromArrays(arrays);
    const x = tf.tensor2d(randomActivations(3, 320), [3, 320]);
    const fused = bnb4Matmul(x, w);
    const composed = tf.tidy(() =>
      tf.matMul(x, tf.transpose(tf.tensor2d(bnb4DequantizeImpl(arrays), [24, 320]))),
    );
    const tolerance = fixed16Tolerance(x.dataSync() as Float32Array, 3, arrays, scales(arrays));
    expectWithin(
      fused.dataSync(),
      composed.dataSync(),
      tolerance.map((t) => t * 2),
      'fused vs composed',
    );
    tf.dispose([fused, composed, x]);
    disposeBnb4Weights(w);
  });

  it.each([1, 3])('cannot overflow its integer sums when every product is the largest (%i rows)', (rows) => {
    // Every code is max|code| and every activation its group's max: each 64-group sums 64 products of
    // 8192 * 16383, above 2^31, which the kernel must never add up in int32.
    const arrays = randomBnb4Arrays({ outFeatures: 5, inFeatures: 4096, blocksize: 64, nested: true });
    arrays.packed.fill(0xff);
    const x = new Float32Array(rows * 4096).fill(-3);
    const w = bnb4WeightsFromArrays(arrays);
    const xt = tf.tensor2d(x, [rows, 4096]);
    const y = bnb4Matmul(xt, w);
    const tolerance =
      backend === 'wasm'
        ? fixed16Tolerance(x, rows, arrays, scales(arrays))
        : float32Tolerance(x, rows, arrays);
    expectWithin(y.dataSync(), bnb4MatmulImpl(x, rows, arrays), tolerance, 'largest products');
    tf.dispose([xt, y]);
    disposeBnb4Weights(w);
  });

  it('propagates NaN in x to exactly the rows that hold it', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 4, inFeatures: 64, blocksize: 64 });
    const x = randomActivations(2, 64);
    x[10] = Number.NaN;
    const w = bnb4WeightsFromArrays(arrays);
    const xt = tf.tensor2d(x, [2, 64]);
    const y = bnb4Matmul(xt, w).dataSync();
    expect(Array.from(y.slice(0, 4)).every(Number.isNaN)).toBe(true);
    expectWithin(
      y.slice(4),
      bnb4MatmulImpl(x.slice(64), 1, arrays),
      float32Tolerance(x.slice(64), 1, arrays),
      'row 1',
    );
    xt.dispose();
    disposeBnb4Weights(w);
  });

  it('does not leak tensors', () => {
    const w = bnb4WeightsFromArrays(randomBnb4Arrays({ outFeatures: 4, inFeatures: 64, blocksize: 64 }));
    const x = tf.ones([2, 64]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) bnb4Matmul(x, w).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    disposeBnb4Weights(w);
  });
});

describe('bnb4Matmul on wasm, SIMD module', () => {
  beforeAll(() => useBackend('wasm'));
  afterEach(() => tf.env().set(BNB4_EXACT_FLAG, false));

  it('links to the TensorFlow.js heap in Node (so the tests above ran the SIMD kernels)', () => {
    expect(bnb4Simd(tf.backend() as unknown as WasmBackendLike)).not.toBeNull();
  });

  it(`takes the exact float32 kernel when ${BNB4_EXACT_FLAG} is set`, () => {
    const arrays = randomBnb4Arrays({ outFeatures: 8, inFeatures: 256, blocksize: 64, nested: true });
    const x = randomActivations(5, 256);
    const w = bnb4WeightsFromArrays(arrays);
    const xt = tf.tensor2d(x, [5, 256]);
    tf.env().set(BNB4_EXACT_FLAG, true);
    const y = bnb4Matmul(xt, w);
    expectWithin(y.dataSync(), bnb4MatmulImpl(x, 5, arrays), float32Tolerance(x, 5, arrays), 'exact');
    tf.dispose([xt, y]);
    disposeBnb4Weights(w);
  });
});
