import { ConfigError, ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../test-support/backends.js';
import { randomBnb4Arrays } from '../test-support/random.js';
import { bnb4Dequantize, bnb4Matmul, bnb4MatmulTransposed } from './bnb4.js';
import {
  type Bnb4Weights,
  bnb4WeightsFromArrays,
  bnb4WeightsToArrays,
  bytesToInt32Words,
  disposeBnb4Weights,
} from './bnb4-weights.js';

beforeAll(() => useBackend('wasm'));

function weights(nested = false): Bnb4Weights {
  return bnb4WeightsFromArrays(randomBnb4Arrays({ outFeatures: 4, inFeatures: 6, blocksize: 64, nested }));
}

describe('Bnb4Weights', () => {
  it('packs bytes into little-endian int32 words, zero-padded', () => {
    expect(Array.from(bytesToInt32Words(Uint8Array.from([0x01, 0x02, 0x03, 0x04, 0xff])))).toEqual([
      0x04030201, 0xff,
    ]);
  });

  it('round-trips through typed arrays', () => {
    const arrays = randomBnb4Arrays({ outFeatures: 3, inFeatures: 7, blocksize: 32, nested: true });
    const w = bnb4WeightsFromArrays(arrays);
    const back = bnb4WeightsToArrays(w);
    expect(Array.from(back.packed.subarray(0, arrays.packed.length))).toEqual(Array.from(arrays.packed));
    expect(Array.from(back.absmax.subarray(0, arrays.absmax.length))).toEqual(Array.from(arrays.absmax));
    expect(back.offset).toBe(arrays.offset);
    disposeBnb4Weights(w);
  });

  it('names the field and the expected layout when a tensor has the wrong size', () => {
    const w = weights();
    const wrong = { ...w, absmax: tf.zeros([5]) as tf.Tensor1D };
    expect(() => bnb4Dequantize(wrong)).toThrow(ShapeMismatchError);
    expect(() => bnb4Dequantize(wrong)).toThrow(
      /bnb4Dequantize: weights\.absmax is float32 \[5\], expected float32 \[1\]/,
    );
    // The storage shape (packed bytes) is not the logical shape: one byte per element is rejected.
    const bytePerElement = { ...w, packed: tf.zeros([24], 'int32') as tf.Tensor1D };
    expect(() => bnb4Matmul(tf.ones([1, 6]) as tf.Tensor2D, bytePerElement)).toThrow(
      /weights\.packed is int32 \[24\], expected int32 \[3\]/,
    );
    tf.dispose([wrong.absmax, bytePerElement.packed]);
    disposeBnb4Weights(w);
  });

  it('rejects nested statistics of the wrong dtype and blocksizes bitsandbytes does not have', () => {
    const w = weights(true);
    expect(() => bnb4Dequantize({ ...w, nestedCode: null })).toThrow(/weights\.nestedCode is missing/);
    expect(() => bnb4Dequantize({ ...w, blocksize: 48 })).toThrow(ConfigError);
    // Past int32 the wasm kernels' block division wraps (2^31: negative, 2^32: zero).
    for (const nestedBlocksize of [2 ** 31, 2 ** 32, 0, 1.5])
      expect(() => bnb4Dequantize({ ...w, nestedBlocksize })).toThrow(
        /weights\.nestedBlocksize must be a whole number from 1 to 1073741824/,
      );
    const floatCodes = tf.zeros([1]) as tf.Tensor1D;
    expect(() => bnb4Dequantize({ ...w, absmax: floatCodes })).toThrow(
      /weights\.absmax is float32 \[1\], expected int32 \[1\]/,
    );
    floatCodes.dispose();
    disposeBnb4Weights(w);
  });

  it('rejects activations whose width is not inFeatures, naming the shapes', () => {
    const w = weights();
    const x = tf.ones([2, 5]) as tf.Tensor2D;
    expect(() => bnb4Matmul(x, w)).toThrow(/bnb4Matmul: x has shape \[2,5\], expected \[rows, 6\]/);
    expect(() => bnb4MatmulTransposed(x, w)).toThrow(/dy has shape \[2,5\], expected \[rows, 4\]/);
    x.dispose();
    disposeBnb4Weights(w);
  });

  it('refuses disposed weights instead of crashing inside a kernel', () => {
    const w = weights();
    disposeBnb4Weights(w);
    expect(() => bnb4Dequantize(w)).toThrow(/weights\.packed has been disposed/);
  });
});
