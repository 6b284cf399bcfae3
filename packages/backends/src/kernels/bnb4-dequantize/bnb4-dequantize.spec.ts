import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bnb4Dequantize } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectSameFloats, roundToF16 } from '../../test-support/compare.js';
import { goldenCases } from '../../test-support/golden.js';
import { FP4_CODE, randomBnb4Arrays } from '../../test-support/random.js';
import { bnb4DequantizeImpl } from './reference.js';

const cases = goldenCases();

describe('bnb4DequantizeImpl (reference)', () => {
  it('has golden cases to check against', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases.map((c) => [c.name, c] as const))('reproduces bitsandbytes on %s', (_, c) => {
    const w = bnb4DequantizeImpl(c.weights);
    // bitsandbytes casts the float32 product to the model dtype; the golden file holds that cast value.
    expectSameFloats(c.dtype === 'float16' ? roundToF16(w) : w, c.dequantized, c.name);
  });
});

describe.each(NODE_BACKENDS)('bnb4Dequantize on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(cases.map((c) => [c.name, c] as const))('matches the golden bytes of %s', (_, c) => {
    const w = bnb4WeightsFromArrays(c.weights);
    const out = bnb4Dequantize(w);
    expect(out.shape).toEqual([c.weights.outFeatures, c.weights.inFeatures]);
    const values = out.dataSync() as Float32Array;
    expectSameFloats(c.dtype === 'float16' ? roundToF16(values) : values, c.dequantized, c.name);
    out.dispose();
    disposeBnb4Weights(w);
  });

  const shapes = [
    { outFeatures: 7, inFeatures: 9, blocksize: 32, nested: false },
    { outFeatures: 3, inFeatures: 129, blocksize: 128, nested: true, code: FP4_CODE },
    { outFeatures: 5, inFeatures: 33, blocksize: 64, nested: true },
    { outFeatures: 300, inFeatures: 40, blocksize: 4096, nested: true },
    ...[32, 64, 128, 256, 512, 1024, 2048, 4096].map((blocksize) => ({
      outFeatures: 11,
      inFeatures: 37,
      blocksize,
      nested: blocksize % 128 === 0,
    })),
  ];
  it.each(shapes)('equals the reference exactly for %o', (shape) => {
    const arrays = randomBnb4Arrays({ ...shape, seed: shape.blocksize + shape.inFeatures });
    const w = bnb4WeightsFromArrays(arrays);
    const out = bnb4Dequantize(w);
    expectSameFloats(out.dataSync(), bnb4DequantizeImpl(arrays), JSON.stringify(shape));
    out.dispose();
    disposeBnb4Weights(w);
  });

  it('does not leak tensors', () => {
    const w = bnb4WeightsFromArrays(randomBnb4Arrays({ outFeatures: 4, inFeatures: 64, blocksize: 64 }));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) bnb4Dequantize(w).dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeBnb4Weights(w);
  });
});
