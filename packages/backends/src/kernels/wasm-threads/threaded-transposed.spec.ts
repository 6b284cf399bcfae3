import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { bnb4MatmulTransposed } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { setupBackend } from '../../setup/setup-backend.js';
import { expectWithin } from '../../test-support/compare.js';
import { randomActivations, randomBnb4Arrays } from '../../test-support/random.js';
import { THREAD_CASES, type ThreadCase, threadCaseWeight } from '../../test-support/thread-cases.js';
import { fixed16TransposedTolerance, float32TransposedTolerance } from '../../test-support/tolerances.js';
import { bnb4MatmulTransposedImpl } from '../bnb4-matmul-transposed/reference.js';
import { kernelThreadStats } from './active-threads.js';
import { rowPlan } from './row-plan.js';

const CASES = THREAD_CASES;

/** dy·W for the case on `threads` threads; `mirrored` > 0 shows the workers took part. */
async function run(
  c: ThreadCase,
  threads: number,
  dy: Float32Array,
): Promise<{ dx: Float32Array; mirrored: number }> {
  await setupBackend('wasm', { kernelThreads: threads });
  const arrays = threadCaseWeight(c, c.outFeatures);
  const w = bnb4WeightsFromArrays(arrays);
  const dyt = tf.tensor2d(dy, [c.rows, c.outFeatures]);
  const dx = bnb4MatmulTransposed(dyt, w);
  const values = dx.dataSync() as Float32Array;
  const mirrored = kernelThreadStats().mirroredBytes;
  tf.dispose([dyt, dx]);
  disposeBnb4Weights(w);
  return { dx: values, mirrored };
}

describe('dy·W (the 4-bit input gradient) on kernel threads (wasm, Node)', () => {
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it.each(CASES)(
    'gives bit for bit the single-thread result, within the kernel bound of the reference: %o',
    async (c) => {
      const dy = randomActivations(c.rows, c.outFeatures, c.inFeatures);
      const single = await run(c, 1, dy);
      const threaded = await run(c, c.threads, dy);
      expect(single.mirrored).toBe(0);
      expect(threaded.mirrored).toBeGreaterThan(0);
      const arrays = threadCaseWeight(c, c.outFeatures);
      // Partial sums are added in an order fixed by the shapes (sum-segments.ts), whoever computed them.
      expect(Array.from(threaded.dx)).toEqual(Array.from(single.dx));
      expectWithin(
        threaded.dx,
        bnb4MatmulTransposedImpl(dy, c.rows, arrays),
        fixed16TransposedTolerance(dy, c.rows, arrays),
        JSON.stringify(c),
      );
    },
  );

  it.each([
    ['in a row only the calling thread takes', [5]],
    // Every shared row: whichever thread claims a chunk meets one.
    ['in the rows shared out in chunks', Array.from({ length: 1030 - 400 }, (_, i) => 400 + i)],
  ])('propagates NaN in dy %s to exactly its row of dx, as float32 does', async (_where, columns) => {
    const c = CASES[0]!;
    expect(rowPlan(c.outFeatures, 2).first).toBe(400);
    const rows = 2;
    const dy = randomActivations(rows, c.outFeatures, 3);
    for (const n of columns) dy[n] = Number.NaN; // row 0
    const { dx, mirrored } = await run({ ...c, rows }, 2, dy);
    expect(mirrored).toBeGreaterThan(0);
    expect(Array.from(dx.subarray(0, c.inFeatures)).every(Number.isNaN)).toBe(true);
    const arrays = randomBnb4Arrays({ ...c, seed: c.outFeatures });
    const secondRow = dy.slice(c.outFeatures);
    expectWithin(
      dx.subarray(c.inFeatures),
      bnb4MatmulTransposedImpl(secondRow, 1, arrays),
      float32TransposedTolerance(secondRow, 1, arrays),
      'row 1, on the exact kernel',
    );
  });

  it('leaves no tensors and no call buffers behind', async () => {
    await setupBackend('wasm', { kernelThreads: 2 });
    const c = CASES[0]!;
    const w = bnb4WeightsFromArrays(randomBnb4Arrays({ ...c, seed: 4 }));
    const dy = tf.tensor2d(randomActivations(1, c.outFeatures), [1, c.outFeatures]);
    bnb4MatmulTransposed(dy, w).dispose();
    const before = tf.memory().numTensors;
    const shared = kernelThreadStats().sharedBytes;
    for (let i = 0; i < 3; i++) bnb4MatmulTransposed(dy, w).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(kernelThreadStats().sharedBytes).toBe(shared);
    dy.dispose();
    disposeBnb4Weights(w);
  });
});
