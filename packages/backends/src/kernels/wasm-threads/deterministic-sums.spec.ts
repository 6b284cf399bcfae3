import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bnb4Matmul, bnb4MatmulTransposed } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { setupBackend } from '../../setup/setup-backend.js';
import { expectWithin } from '../../test-support/compare.js';
import { randomActivations } from '../../test-support/random.js';
import { type ThreadCase, threadCaseWeight } from '../../test-support/thread-cases.js';
import { fixed16TransposedTolerance } from '../../test-support/tolerances.js';
import { bnb4MatmulTransposedImpl } from '../bnb4-matmul-transposed/reference.js';
import { sumSegments } from '../bnb4-matmul-transposed/sum-segments.js';
import { activeKernelThreads, kernelThreadStats } from './active-threads.js';

// dy·W sums over rows of W. Its partial sums are added in an order fixed by the shapes alone, so one, two or three
// kernel threads, and a worker slowed down (taking fewer segments), give bit for bit the same dx.

type Shape = Omit<ThreadCase, 'threads'>;

const SHAPES: Shape[] = [
  { rows: 1, outFeatures: 1030, inFeatures: 2048, blocksize: 64, nested: true },
  { rows: 3, outFeatures: 522, inFeatures: 2048, blocksize: 256, nested: false, fp4: true },
  { rows: 35, outFeatures: 66, inFeatures: 1024, blocksize: 4096, nested: true },
  { rows: 40, outFeatures: 1000, inFeatures: 1024, blocksize: 64, nested: true },
];

const bits = (values: Float32Array) =>
  Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

/** One product on `threads` threads (worker 0 slowed by `slowMs`); `mirrored` > 0 shows workers took part. */
async function product(
  kind: 'dy·W' | 'x·Wᵀ',
  s: Shape,
  threads: number,
  input: Float32Array,
  slowMs = 0,
): Promise<{ values: Float32Array; mirrored: number }> {
  await setupBackend('wasm', { kernelThreads: threads });
  if (slowMs > 0) activeKernelThreads()!.slowWorker(0, slowMs);
  const w = bnb4WeightsFromArrays(threadCaseWeight({ ...s, threads }, s.outFeatures + s.rows));
  const columns = kind === 'dy·W' ? s.outFeatures : s.inFeatures;
  const x = tf.tensor2d(input, [s.rows, columns]);
  const y = kind === 'dy·W' ? bnb4MatmulTransposed(x, w) : bnb4Matmul(x, w);
  const values = (y.dataSync() as Float32Array).slice();
  const mirrored = kernelThreadStats().mirroredBytes;
  tf.dispose([x, y]);
  disposeBnb4Weights(w);
  activeKernelThreads()?.slowWorker(0, 0);
  return { values, mirrored };
}

describe('4-bit products give the same bits on any number of kernel threads (wasm, Node)', () => {
  afterEach(() => activeKernelThreads()?.slowWorker(0, 0));
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it.each(SHAPES)('dy·W on 1, 2 and 3 threads: %o', async (s) => {
    const dy = randomActivations(s.rows, s.outFeatures, s.inFeatures);
    const one = await product('dy·W', s, 1, dy);
    expect(one.mirrored).toBe(0);
    for (const threads of [2, 3]) {
      const many = await product('dy·W', s, threads, dy);
      expect(many.mirrored, `${threads} threads ran workers`).toBeGreaterThan(0);
      expect(bits(many.values), `${threads} threads`).toEqual(bits(one.values));
    }
    const arrays = threadCaseWeight({ ...s, threads: 1 }, s.outFeatures + s.rows);
    expectWithin(
      one.values,
      bnb4MatmulTransposedImpl(dy, s.rows, arrays),
      fixed16TransposedTolerance(dy, s.rows, arrays),
      'one thread vs the reference',
    );
  });

  it.each(SHAPES.filter((s) => s.outFeatures >= 522))(
    'dy·W with a slowed worker, repeated: %o',
    async (s) => {
      const dy = randomActivations(s.rows, s.outFeatures, 7);
      const one = await product('dy·W', s, 1, dy);
      for (const [threads, slowMs] of [
        [2, 5],
        [3, 5],
        [3, 20],
        [2, 0],
      ] as const) {
        const many = await product('dy·W', s, threads, dy, slowMs);
        expect(bits(many.values), `${threads} threads, worker 0 ${slowMs} ms slower per claim`).toEqual(
          bits(one.values),
        );
      }
    },
  );

  it('x·Wᵀ with a slowed worker is still bit for bit the single-thread result', async () => {
    const s = SHAPES[0]!;
    const x = randomActivations(s.rows, s.inFeatures, 11);
    const one = await product('x·Wᵀ', s, 1, x);
    for (const threads of [2, 3]) {
      const many = await product('x·Wᵀ', s, threads, x, 10);
      expect(many.mirrored).toBeGreaterThan(0);
      expect(bits(many.values), `${threads} threads`).toEqual(bits(one.values));
    }
  });

  it('the segments depend on the shapes only: 16-row multiples, at most 32, memory-bounded', () => {
    for (const [N, rows, K] of [
      [1030, 1, 2048],
      [66, 35, 1024],
      [4096, 256, 4096],
      [11008, 512, 4096],
      [16, 1, 64],
    ] as const) {
      const seg = sumSegments(N, rows, K);
      expect(seg.rows % 16).toBe(0);
      expect(seg.count).toBeLessThanOrEqual(32);
      expect((seg.count - 1) * seg.rows).toBeLessThan(N);
      expect(seg.count * seg.rows).toBeGreaterThanOrEqual(N);
      // About four at least (whole chunks per segment can leave three), so threads have something to share.
      if (Math.ceil(N / 16) >= 4) expect(seg.count).toBeGreaterThanOrEqual(3);
      if (seg.count > 4) {
        expect(seg.count * rows * K * 4).toBeLessThanOrEqual(2 ** 27);
        expect(seg.rows).toBeGreaterThanOrEqual(512);
      }
    }
  });
});
