import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bnb4Dequantize } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { NODE_BACKENDS, useBackend } from '../../test-support/backends.js';
import { expectSameFloats } from '../../test-support/compare.js';
import { FP4_CODE, randomBnb4Arrays } from '../../test-support/random.js';
import { bnb4DequantizeImpl } from './reference.js';

// The golden bitsandbytes cases are checked against these kernels in @peft/quant-bnb4, which owns them.
describe.each(NODE_BACKENDS)('bnb4Dequantize on %s', (backend) => {
  beforeAll(() => useBackend(backend));

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
