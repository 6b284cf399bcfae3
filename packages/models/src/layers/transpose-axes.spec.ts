import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { transposeAxes } from './transpose-axes.js';

beforeAll(useCpuBackend);

describe('transposeAxes', () => {
  it.each([
    ['one token: [B, 1, heads, d] -> [B, heads, 1, d]', [2, 1, 3, 4], [0, 2, 1, 3], 'Reshape'],
    ['one head: [B, T, 1, d] -> [B, 1, T, d]', [2, 5, 1, 4], [0, 2, 1, 3], 'Reshape'],
    ['a row vector: [1, n] -> [n, 1]', [1, 6], [1, 0], 'Reshape'],
    ['several tokens and heads', [2, 5, 3, 4], [0, 2, 1, 3], 'Transpose'],
    ['a matrix', [3, 6], [1, 0], 'Transpose'],
  ])('%s: the values of tf.transpose, through %s', async (_, shape, perm, kernel) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const want = tf.transpose(x, perm);
    let got: tf.Tensor | undefined;
    const profile = await tf.profile(() => {
      got = transposeAxes(x, perm);
    });
    expect(profile.kernelNames).toEqual([kernel]);
    expect(got!.shape).toEqual(want.shape);
    expect(Array.from(got!.dataSync())).toEqual(Array.from(want.dataSync()));
    tf.dispose([x, want, got!]);
  });
});
