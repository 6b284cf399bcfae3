import { matMulBoth, matMulFrozenRight, TAKES_TRANSPOSED_RIGHT } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../setup/setup-backend.js';
import { seededRandom } from '../../test-support/random.js';
import { activeKernelThreads } from '../wasm-threads/active-threads.js';
import { denseSlabs } from '../wasm-threads/threaded-dense.js';
import { isReplacedWasmKernel } from '../wasm-views/replace.js';
import { denseRoute } from './wasm.js';

// The dense kernels promise a sum order fixed by the shapes (assembly/dense.ts). These references follow that
// order in float32 (Math.fround after every multiply and add), so results must match them bit for bit, on any
// number of threads and any slab size.

const f = Math.fround;

/** x·Wᵀ in the order of denseNT: four lanes over k ≡ j (mod 4), (l0 + l1) + (l2 + l3), then the k tail. */
function referenceNT(x: Float32Array, w: Float32Array, M: number, K: number, N: number): Float32Array {
  const y = new Float32Array(M * N);
  const K4 = K & ~3;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const lanes = [0, 0, 0, 0];
      for (let k = 0; k < K4; k++) lanes[k & 3] = f(lanes[k & 3]! + f(x[m * K + k]! * w[n * K + k]!));
      let s = f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!));
      for (let k = K4; k < K; k++) s = f(s + f(x[m * K + k]! * w[n * K + k]!));
      y[m * N + n] = s;
    }
  }
  return y;
}

/** x·W in the order of denseNN: each sum in increasing k, from zero. */
function referenceNN(x: Float32Array, w: Float32Array, M: number, K: number, N: number): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = f(s + f(x[m * K + k]! * w[k * N + n]!));
      y[m * N + n] = s;
    }
  }
  return y;
}

function randomFloats(n: number, seed: number): Float32Array {
  const next = seededRandom(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

interface Case {
  M: number;
  K: number;
  N: number;
  transposed: boolean;
}

/** The product on wasm with `threads` kernel threads, as the kernel computes it (through tf.matMul). */
async function product(c: Case, x: Float32Array, w: Float32Array, threads: number): Promise<Float32Array> {
  await setupBackend('wasm', { kernelThreads: threads });
  const xt = tf.tensor2d(x, [c.M, c.K]);
  const wt = c.transposed ? tf.tensor2d(w, [c.N, c.K]) : tf.tensor2d(w, [c.K, c.N]);
  const y = tf.matMul(xt, wt, false, c.transposed);
  const values = y.dataSync() as Float32Array;
  tf.dispose([xt, wt, y]);
  return values;
}

function expectBits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Object.is(actual[i], expected[i])) continue;
    throw new Error(`${what}: element ${i} is ${actual[i]}, the documented order gives ${expected[i]}`);
  }
}

// Tails everywhere: K % 4 != 0, M % 4 and M % 2 != 0, N not a multiple of 16, 8 or 4; one row; few columns.
const SINGLE_THREAD_CASES: Case[] = [
  { M: 37, K: 131, N: 203, transposed: true },
  { M: 37, K: 131, N: 203, transposed: false },
  { M: 64, K: 64, N: 64, transposed: true },
  { M: 64, K: 64, N: 64, transposed: false },
  { M: 1, K: 576, N: 301, transposed: true },
  { M: 3, K: 257, N: 77, transposed: true },
  { M: 200, K: 40, N: 5, transposed: true },
  { M: 6, K: 300, N: 50, transposed: false },
  { M: 5, K: 260, N: 33, transposed: false },
];

// Large enough for the threads (assembly/dense.ts shares out rows of W for x·Wᵀ, columns of y for x·W).
const THREAD_CASES: Case[] = [
  { M: 161, K: 163, N: 290, transposed: true },
  { M: 161, K: 163, N: 290, transposed: false },
];

describe('dense float32 products on wasm (BatchMatMul replaced)', () => {
  beforeAll(() => setupBackend('wasm'));
  afterEach(() => {
    denseSlabs.bytes = 32 * 1024 * 1024;
  });
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it('is registered in place of the stock kernel, which stockWasmKernels puts back', async () => {
    expect(isReplacedWasmKernel(tf.BatchMatMul)).toBe(true);
    const x = randomFloats(64 * 96, 1);
    const w = randomFloats(96 * 80, 2);
    const c: Case = { M: 64, K: 96, N: 80, transposed: false };
    await setupBackend('wasm', { stockWasmKernels: true });
    try {
      for (const name of [tf.BatchMatMul, tf.Sum, tf.Identity, tf.Slice, tf.Unpack])
        expect(isReplacedWasmKernel(name), name).toBe(false);
      const xt = tf.tensor2d(x, [c.M, c.K]);
      const wt = tf.tensor2d(w, [c.K, c.N]);
      const stock = tf.matMul(xt, wt);
      // XNNPACK's float32 product, near the documented order's but not computed by our kernel.
      const reference = referenceNN(x, w, c.M, c.K, c.N);
      const values = stock.dataSync();
      for (let i = 0; i < values.length; i++) expect(Math.abs(values[i]! - reference[i]!)).toBeLessThan(1e-4);
      tf.dispose([xt, wt, stock]);
    } finally {
      await setupBackend('wasm');
    }
    expect(isReplacedWasmKernel(tf.BatchMatMul)).toBe(true);
    expect(isReplacedWasmKernel(tf.Sum)).toBe(true);
  });

  it.each(SINGLE_THREAD_CASES)('gives the documented sum order bit for bit on one thread: %o', async (c) => {
    const x = randomFloats(c.M * c.K, c.M + c.K);
    const w = randomFloats(c.K * c.N, c.N);
    const reference = c.transposed ? referenceNT(x, w, c.M, c.K, c.N) : referenceNN(x, w, c.M, c.K, c.N);
    expect(
      denseRoute(
        { shape: [c.M, c.K], dtype: 'float32' },
        { shape: c.transposed ? [c.N, c.K] : [c.K, c.N], dtype: 'float32' },
        false,
        c.transposed,
      ),
    ).not.toBeNull();
    expectBits(await product(c, x, w, 1), reference, JSON.stringify(c));
  });

  it.each(THREAD_CASES)(
    'gives the same bytes on two threads, a slowed worker and small slabs: %o',
    async (c) => {
      const x = randomFloats(c.M * c.K, 3);
      const w = randomFloats(c.K * c.N, 4);
      const reference = c.transposed ? referenceNT(x, w, c.M, c.K, c.N) : referenceNN(x, w, c.M, c.K, c.N);
      expectBits(await product(c, x, w, 1), reference, 'one thread');
      await setupBackend('wasm', { kernelThreads: 2 });
      const threads = activeKernelThreads()!;
      const posted = threads.postedJobs;
      const used = threads.arena.usedBytes;
      expectBits(await product(c, x, w, 2), reference, 'two threads');
      expect(threads.postedJobs).toBeGreaterThan(posted); // the worker took part
      expect(threads.arena.usedBytes).toBe(used); // and the call's buffers are free again
      activeKernelThreads()!.slowWorker(0, 2);
      try {
        expectBits(await product(c, x, w, 2), reference, 'two threads, the worker slowed');
      } finally {
        activeKernelThreads()!.slowWorker(0, 0);
      }
      // Slabs of 40 KB: x·Wᵀ takes W in slabs of rows, x·W sums over K in slabs that continue each other.
      denseSlabs.bytes = 40 * 1024;
      expectBits(await product(c, x, w, 2), reference, 'two threads, several slabs');
    },
  );

  it('propagates NaN and infinities as float32 does, on one thread and two', async () => {
    for (const transposed of [true, false]) {
      const c: Case = { M: 161, K: 163, N: 290, transposed };
      const x = randomFloats(c.M * c.K, 5);
      const w = randomFloats(c.K * c.N, 6);
      x[10 * c.K + 7] = Number.NaN; // row 10
      x[20 * c.K + 3] = Number.POSITIVE_INFINITY; // row 20
      for (const threads of [1, 2]) {
        const y = await product(c, x, w, threads);
        expect(Array.from(y.subarray(10 * c.N, 11 * c.N)).every(Number.isNaN)).toBe(true);
        expect(Array.from(y.subarray(20 * c.N, 21 * c.N)).every((v) => !Number.isFinite(v))).toBe(true);
        expect(Array.from(y.subarray(0, 10 * c.N)).every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('leaves batched, left-transposed, integer, tiny and few-row x·W products to the stock kernel', () => {
    const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });
    expect(denseRoute(f32([2, 64, 64]), f32([2, 64, 64]), false, false)).toBeNull();
    expect(denseRoute(f32([64, 64]), f32([64, 64]), true, false)).toBeNull();
    expect(denseRoute({ shape: [64, 64], dtype: 'int32' }, f32([64, 64]), false, false)).toBeNull();
    expect(denseRoute(f32([8, 8]), f32([8, 8]), false, true)).toBeNull();
    expect(denseRoute(f32([1, 576]), f32([576, 1536]), false, false)).toBeNull();
    expect(denseRoute(f32([1024, 576]), f32([576, 1]), false, false)).toBeNull();
    expect(denseRoute(f32([1, 576]), f32([1536, 576]), false, true)).toEqual({
      M: 1,
      K: 576,
      N: 1536,
      transposed: true,
    });
  });

  it('agrees with the cpu backend within float32 rounding, gradients included', async () => {
    const x = randomFloats(48 * 96, 8);
    const w = randomFloats(80 * 96, 9);
    const run = async (backend: 'cpu' | 'wasm') => {
      await setupBackend(backend);
      const xt = tf.tensor2d(x, [48, 96]);
      const wt = tf.tensor2d(w, [80, 96]);
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.matMul(a, b, false, true))),
      )([xt, wt]);
      const out = [value.dataSync(), ...grads.map((g) => g.dataSync())] as Float32Array[];
      tf.dispose([xt, wt, value, ...grads]);
      return out;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    for (let i = 0; i < cpu.length; i++) {
      for (let j = 0; j < cpu[i]!.length; j++) {
        expect(Math.abs(wasm[i]![j]! - cpu[i]![j]!)).toBeLessThanOrEqual(
          1e-4 * Math.max(1, Math.abs(cpu[i]![j]!)),
        );
      }
    }
  });

  it("lets @peft/core's matmul gradients multiply by bᵀ without a transposed copy of b", async () => {
    await setupBackend('wasm');
    const kernel = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc as unknown as Record<symbol, unknown>;
    expect(kernel[TAKES_TRANSPOSED_RIGHT]).toBe(true);
    // Read while another backend is active, the mark says no (it describes the active backend's heap).
    await setupBackend('cpu');
    expect(kernel[TAKES_TRANSPOSED_RIGHT]).toBe(false);
    await setupBackend('wasm');
    const x = randomFloats(48 * 96, 10);
    const w = randomFloats(96 * 80, 11);
    const gradients = async (backend: 'cpu' | 'wasm') => {
      await setupBackend(backend);
      const xt = tf.tensor2d(x, [48, 96]);
      const wt = tf.tensor2d(w, [96, 80]);
      const loss = (a: tf.Tensor) =>
        tf.sum(tf.square(matMulFrozenRight(a as tf.Tensor2D, wt, { persistent: true })));
      const both = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(matMulBoth(a, b)));
      const profile = await tf.profile(() => tf.grad(loss)(xt));
      const frozen = tf.grad(loss)(xt);
      const [da, db] = tf.grads(both)([xt, wt]);
      const values = [frozen, da!, db!].map((g) => g.dataSync() as Float32Array);
      tf.dispose([xt, wt, frozen, da!, db!]);
      return { values, kernels: profile.kernelNames };
    };
    const wasm = await gradients('wasm');
    // The only transposes left are of the activations (aᵀ·dy for db), none of the frozen weight.
    expect(wasm.kernels).not.toContain('Transpose');
    const cpu = await gradients('cpu');
    expect(cpu.kernels).toContain('Transpose'); // the cpu kernel has no marker: the explicit transpose stays
    for (let i = 0; i < cpu.values.length; i++) {
      for (let j = 0; j < cpu.values[i]!.length; j++) {
        const want = cpu.values[i]![j]!;
        expect(Math.abs(wasm.values[i]![j]! - want)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)));
      }
    }
    await setupBackend('wasm');
  });

  it('leaves no tensors behind', async () => {
    await setupBackend('wasm', { kernelThreads: 2 });
    const x = tf.randomUniform([161, 163]);
    const w = tf.randomUniform([290, 163]);
    const before = tf.memory();
    const used = activeKernelThreads()!.arena.usedBytes;
    for (let i = 0; i < 3; i++) tf.dispose(tf.matMul(x, w, false, true));
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(activeKernelThreads()!.arena.usedBytes).toBe(used);
    tf.dispose([x, w]);
  });
});
