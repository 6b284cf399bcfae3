import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../test-support/backends.js';
import { isReplacedWasmKernel } from './replace.js';

// Slicing is exact, so every case compares the wasm result with the cpu backend's bit for bit.

interface Case {
  shape: number[];
  begin: number[];
  size: number[];
  dtype: 'float32' | 'int32' | 'bool';
}

const CASES: Case[] = [
  { shape: [7, 5], begin: [2, 0], size: [3, 5], dtype: 'float32' }, // whole rows: one run
  { shape: [7, 5], begin: [0, 1], size: [7, 3], dtype: 'float32' }, // columns: a run per row
  { shape: [2, 3, 4, 5], begin: [1, 0, 1, 2], size: [1, 3, 2, 3], dtype: 'float32' },
  { shape: [2, 3, 4, 5], begin: [0, 1, 0, 0], size: [2, 1, 4, 5], dtype: 'int32' }, // a middle axis, whole inner rows
  { shape: [3, 2, 2, 2, 3], begin: [1, 0, 1, 0, 1], size: [2, 2, 1, 2, 2], dtype: 'float32' }, // rank 5
  { shape: [6], begin: [4], size: [2], dtype: 'bool' },
  { shape: [4, 4], begin: [1, 1], size: [0, 2], dtype: 'float32' }, // empty
];

function values(shape: number[], dtype: Case['dtype']): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 3 === 0 : i * 1.5 - 7));
  return dtype === 'bool'
    ? tf.tensor(data as boolean[], shape, 'bool')
    : tf.tensor(data as number[], shape, dtype);
}

async function on<T>(backend: 'cpu' | 'wasm', f: () => T): Promise<T> {
  await useBackend(backend);
  return f();
}

describe('Slice and Unpack on wasm read the heap in place', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('are the kernels registered after setup', () => {
    expect(isReplacedWasmKernel('Slice')).toBe(true);
    expect(isReplacedWasmKernel('Unpack')).toBe(true);
  });

  for (const c of CASES) {
    it(`slice [${c.shape}] from [${c.begin}] size [${c.size}] (${c.dtype}) equals the cpu backend's`, async () => {
      const expected = await on('cpu', () =>
        tf.tidy(() => tf.slice(values(c.shape, c.dtype), c.begin, c.size).arraySync()),
      );
      const got = await on('wasm', () =>
        tf.tidy(() => tf.slice(values(c.shape, c.dtype), c.begin, c.size).arraySync()),
      );
      expect(got).toEqual(expected);
    });
  }

  for (const axis of [0, 1, 2, -1]) {
    it(`unstack along axis ${axis} equals the cpu backend's`, async () => {
      const run = () =>
        tf.tidy(() => tf.unstack(values([3, 4, 2], 'float32'), axis).map((t) => [t.shape, t.arraySync()]));
      const expected = await on('cpu', run);
      const got = await on('wasm', run);
      expect(got).toEqual(expected);
    });
  }

  it('a slice of a large tensor creates no JavaScript copy of it', () => {
    const table = tf.zeros([4096, 1024]); // 16 MB
    const before = process.memoryUsage().arrayBuffers;
    let grew = 0;
    for (let i = 0; i < 8; i++) {
      const part = tf.slice(table, [i * 16, 0], [16, -1]);
      grew = Math.max(grew, process.memoryUsage().arrayBuffers - before);
      part.dispose();
    }
    // The stock kernel copied the whole 16 MB table out of the heap on every call.
    expect(grew).toBeLessThan(4 * 2 ** 20);
    table.dispose();
  });

  it('gradients through slices and unstack are unchanged', async () => {
    const f = (x: tf.Tensor) => {
      const [a, b] = tf.unstack(tf.slice(x, [0, 1, 0], [2, 2, 3]), 1);
      return tf.sum(tf.mul(tf.exp(a!), b!));
    };
    const grad = (backend: 'cpu' | 'wasm') =>
      on(backend, () =>
        tf.tidy(() =>
          tf
            .grad(f)(values([2, 4, 3], 'float32'))
            .dataSync(),
        ),
      );
    const expected = await grad('cpu');
    const got = await grad('wasm');
    for (let i = 0; i < expected.length; i++)
      expect(Math.abs(got[i]! - expected[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(expected[i]!)));
  });
});
