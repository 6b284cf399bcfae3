import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../setup/setup-backend.js';
import { seededRandom } from '../../test-support/random.js';
import { isReplacedWasmKernel } from '../wasm-views/replace.js';
import { leadingAxesSum } from './column-sum.js';

// The stock kernel stays registered under the replacement as its fallback; it is reached here by a Sum the
// replacement hands back (axes not leading) after an explicit transpose, which is what the stock kernel does itself.

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const next = seededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => next() * 2 - 1),
    shape,
  );
}

function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++)
    if (!Object.is(a[i], b[i])) throw new Error(`element ${i}: ${a[i]} vs ${b[i]}`);
}

describe('Sum over leading axes on wasm adds rows in place', () => {
  beforeAll(() => setupBackend('wasm'));
  afterAll(() => setupBackend('wasm'));

  it('is registered in place of the stock kernel', () => {
    expect(isReplacedWasmKernel(tf.Sum)).toBe(true);
  });

  it.each([
    { shape: [1024, 37], axis: 0 },
    { shape: [4, 256, 19], axis: [0, 1] },
    { shape: [3, 5, 7, 2], axis: [1, 0] },
    { shape: [300, 1030], axis: -2 },
  ])('equals, bit for bit, summing each column of the transposed input in order: %o', ({ shape, axis }) => {
    const x = randomTensor(shape, shape[0]!);
    const reduced = (Array.isArray(axis) ? axis : [axis]).length;
    const ours = tf.sum(x, axis).dataSync() as Float32Array;
    // The same sums through the stock path: rows of a transposed copy, summed along the last axis.
    const kept = shape.slice(reduced).reduce((a, b) => a * b, 1);
    const rows = shape.slice(0, reduced).reduce((a, b) => a * b, 1);
    const stock = tf.sum(tf.transpose(tf.reshape(x, [rows, kept])), 1).dataSync() as Float32Array;
    expectSameBits(ours, stock);
    // And the sum in increasing row order, in float32, computed here.
    const values = x.dataSync();
    const expected = new Float32Array(kept);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < kept; c++) expected[c] = Math.fround(expected[c]! + values[r * kept + c]!);
    expectSameBits(ours, expected);
    tf.dispose(x);
  });

  it('keeps dimensions when asked, and leaves other Sums to the stock kernel', () => {
    const x = randomTensor([6, 4, 3], 1);
    expect(tf.sum(x, [0, 1], true).shape).toEqual([1, 1, 3]);
    expect(leadingAxesSum([6, 4, 3], 1)).toBeNull();
    expect(leadingAxesSum([6, 4, 3], [0, 1, 2])).toBeNull();
    expect(leadingAxesSum([6], 0)).toBeNull();
    expect(leadingAxesSum([0, 4], 0)).toBeNull();
    expect(leadingAxesSum([6, 4, 3], [1, 0])).toEqual({ reduced: 2, R: 24, C: 3 });
    tf.dispose(x);
  });

  it('matches the cpu backend within float32 rounding, as a gradient too', async () => {
    const run = async (backend: 'cpu' | 'wasm') => {
      await setupBackend(backend);
      const x = randomTensor([64, 48], 2);
      const b = randomTensor([48], 3);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.add(x, v))))(b);
      const values = g.dataSync() as Float32Array;
      tf.dispose([x, b, g]);
      return values;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    for (let i = 0; i < cpu.length; i++)
      expect(Math.abs(wasm[i]! - cpu[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(cpu[i]!)));
  });
});
