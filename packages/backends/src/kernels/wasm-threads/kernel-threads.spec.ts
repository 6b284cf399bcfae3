import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendOptionError } from '../../errors.js';
import { bnb4Matmul } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { setupBackend } from '../../setup/setup-backend.js';
import { expectWithin } from '../../test-support/compare.js';
import { randomActivations, randomBnb4Arrays } from '../../test-support/random.js';
import { THREAD_CASES, type ThreadCase, threadCaseWeight } from '../../test-support/thread-cases.js';
import { fixed16Tolerance } from '../../test-support/tolerances.js';
import { bnb4MatmulImpl } from '../bnb4-matmul/reference.js';
import { blockCount, blockScaleImpl } from '../bnb4-shared/arrays.js';
import { kernelThreadStats } from './active-threads.js';
import { KernelThreadError, KernelThreads } from './kernel-threads.js';
import { rowPlan } from './row-plan.js';

// THREAD_CASES and one more: three threads on one row, plain scales, blocksize 128.
const CASES: ThreadCase[] = [
  ...THREAD_CASES,
  { threads: 3, rows: 1, outFeatures: 1030, inFeatures: 2048, blocksize: 128, nested: false },
];

async function withThreads(threads: number): Promise<void> {
  const setup = await setupBackend('wasm', { kernelThreads: threads });
  expect(setup.kernelThreads).toBe(threads);
}

/** One product; `mirrored` is the bytes copied for workers while the weight lived (0: no worker took part). */
function run(c: ThreadCase, arraysSeed: number): { y: Float32Array; x: Float32Array; mirrored: number } {
  const arrays = threadCaseWeight(c, arraysSeed);
  const x = randomActivations(c.rows, c.inFeatures, arraysSeed + 1);
  const w = bnb4WeightsFromArrays(arrays);
  const xt = tf.tensor2d(x, [c.rows, c.inFeatures]);
  const y = bnb4Matmul(xt, w);
  const values = y.dataSync() as Float32Array;
  const mirrored = kernelThreadStats().mirroredBytes;
  tf.dispose([xt, y]);
  disposeBnb4Weights(w);
  return { y: values, x, mirrored };
}

describe('the 4-bit matmul on kernel threads (wasm, Node)', () => {
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it.each(CASES)(
    'gives bit for bit the single-thread result, within tolerance of the reference: %o',
    async (c) => {
      const seed = c.outFeatures + c.rows;
      await withThreads(1);
      const single = run(c, seed);
      expect(single.mirrored).toBe(0);
      await withThreads(c.threads);
      const threaded = run(c, seed);
      expect(threaded.mirrored).toBeGreaterThan(0);
      expect(Array.from(threaded.y)).toEqual(Array.from(single.y));

      const arrays = threadCaseWeight(c, seed);
      const scales = Float32Array.from({ length: blockCount(arrays) }, (_, b) => blockScaleImpl(arrays, b));
      expectWithin(
        threaded.y,
        bnb4MatmulImpl(threaded.x, c.rows, arrays),
        fixed16Tolerance(threaded.x, c.rows, arrays, scales),
        JSON.stringify(c),
      );
    },
  );

  it('copies only the workers rows of a weight, frees the copy with the weight and the call buffers at once', async () => {
    await withThreads(2);
    const N = 1024;
    const K = 2048;
    const arrays = randomBnb4Arrays({ outFeatures: N, inFeatures: K, blocksize: 64, nested: true, seed: 5 });
    const w = bnb4WeightsFromArrays(arrays);
    const x = tf.tensor2d(randomActivations(1, K), [1, K]);
    const tensorsBefore = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) bnb4Matmul(x, w).dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const workerPacked = ((N - rowPlan(N, 2).first) * K) / 2; // rows any thread may take
    const scaleArrays = arrays.absmax.byteLength + arrays.nestedAbsmax!.byteLength + 256 * 4 + 16 * 4;
    const stats = kernelThreadStats();
    expect(stats.threads).toBe(2);
    expect(stats.mirroredBytes).toBeGreaterThanOrEqual(workerPacked + scaleArrays);
    expect(stats.mirroredBytes).toBeLessThan(workerPacked + scaleArrays + 64);
    // Only the copy stays in shared memory between calls (blocks round up to 64 bytes).
    expect(stats.sharedBytes).toBeLessThan(stats.mirroredBytes + 6 * 64 + 2 * 32 * 4);

    disposeBnb4Weights(w);
    x.dispose();
    expect(kernelThreadStats().mirroredBytes).toBe(0);
    expect(kernelThreadStats().sharedBytes).toBeLessThanOrEqual(192); // the workers' job slots
  });

  it('keeps small products on the calling thread (no copy made)', async () => {
    await withThreads(2);
    const arrays = randomBnb4Arrays({ outFeatures: 64, inFeatures: 1024, blocksize: 64, nested: true });
    const w = bnb4WeightsFromArrays(arrays);
    const x = tf.tensor2d(randomActivations(2, 1024), [2, 1024]);
    bnb4Matmul(x, w).dispose();
    expect(kernelThreadStats().mirroredBytes).toBe(0);
    x.dispose();
    disposeBnb4Weights(w);
  });

  it('drops the copies when the threads stop', async () => {
    await withThreads(2);
    const arrays = randomBnb4Arrays({ outFeatures: 1024, inFeatures: 2048, blocksize: 64, nested: true });
    const w = bnb4WeightsFromArrays(arrays);
    const x = tf.tensor2d(randomActivations(1, 2048), [1, 2048]);
    bnb4Matmul(x, w).dispose();
    expect(kernelThreadStats().mirroredBytes).toBeGreaterThan(0);
    await withThreads(1);
    expect(kernelThreadStats()).toEqual({ threads: 1, mirroredBytes: 0, sharedBytes: 0, workerBuild: null });
    const y = bnb4Matmul(x, w); // still right, single-threaded
    expect(y.shape).toEqual([1, 1024]);
    tf.dispose([x, y]);
    disposeBnb4Weights(w);
  });

  it('takes "auto" as every core Node may use, and says why threads do not serve other backends', async () => {
    const auto = await setupBackend('wasm', { kernelThreads: 'auto' });
    expect(auto.kernelThreads).toBe(availableParallelism());
    const cpu = await setupBackend('cpu', { kernelThreads: 2 });
    expect(cpu.kernelThreads).toBe(1);
    expect(cpu.kernelThreadsNote).toMatch(/wasm backend only, not cpu/);
    expect(kernelThreadStats().threads).toBe(1);
    await expect(setupBackend('wasm', { kernelThreads: 0 })).rejects.toThrow(BackendOptionError);
    await expect(setupBackend('wasm', { kernelThreads: 1.5 })).rejects.toThrow(/whole number/);
  });

  it('reports a worker whose job failed with a typed error, and keeps working', async () => {
    const threads = await KernelThreads.start(2);
    if (typeof threads === 'string') throw new Error(threads);
    try {
      const job = {
        kind: 'matmul' as const,
        packed: 0x7fff0000, // far past the end of the shared memory: the worker's wasm traps
        absmax: 0x7fff0000,
        nested: false,
        nestedAbsmax: 0,
        nestedCode: 0,
        nestedBlocksize: 256,
        offset: 0,
        code: 0x7fff0000,
        blocksizeLog2: 6,
        outFeatures: 8,
        inFeatures: 64,
        x16: 0x7fff0000,
        scales: 0x7fff0000,
        rows: 1,
        tables: 0x7fff0000,
        y: 0x7fff0000,
        work: 0x7fff0000,
        chunkFirst: 0,
        chunkRows: 8,
        chunkCount: 1,
      };
      threads.resetChunks();
      threads.post([job]);
      expect(() => threads.wait(1)).toThrow(KernelThreadError);
      threads.resetChunks();
      threads.post([job]);
      expect(() => threads.wait(1)).toThrow(/kernel thread\(s\): worker 0: .*out of bounds/);
      // A job over no rows reads only the code tables: with valid pointers it succeeds.
      const tables = threads.arena.alloc(64);
      threads.resetChunks();
      threads.post([{ ...job, tables, x16: tables, scales: tables, work: tables, y: tables, chunkCount: 0 }]);
      expect(() => threads.wait(1)).not.toThrow();
    } finally {
      await threads.stop();
    }
  });
});

describe('rowPlan', () => {
  it.each([
    [4096, 2],
    [1030, 3],
    [66, 2],
    [11008, 16],
    [10, 4],
  ])(
    'gives the calling thread a share of its own and 16-row-aligned chunks covering every other row once (N %i, %i threads)',
    (N, threads) => {
      const plan = rowPlan(N, threads);
      expect(plan.first % 4).toBe(0);
      expect(plan.chunkRows % 4).toBe(0);
      expect(plan.first).toBeLessThanOrEqual(N / threads);
      expect(plan.first + (plan.chunkCount - 1) * plan.chunkRows).toBeLessThan(N);
      expect(plan.first + plan.chunkCount * plan.chunkRows).toBeGreaterThanOrEqual(N);
    },
  );

  it('shares 4096 rows on 2 threads as 1632 for the caller, then 16 chunks of 160', () => {
    expect(rowPlan(4096, 2)).toEqual({ first: 1632, chunkRows: 160, chunkCount: 16 });
  });
});
