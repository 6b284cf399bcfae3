import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { CallBuffers, chunkRange } from './call-buffers.js';
import type { DenseJob, KernelThreads } from './kernel-threads.js';
import { MIN_THREADED_WORK, type RowPlan, rowPlan } from './row-plan.js';

// The dense float32 products (assembly/dense.ts) on all kernel threads: x·Wᵀ shares out rows of W, x·W rows of x.
// The workers cannot read TensorFlow.js' heap, so each call copies what they read into the shared arena and copies
// their part of the result back; the calling thread computes its share from the heap meanwhile. Copies are per call
// (activations change every call, and a lasting copy of every frozen float32 weight would double the model), in
// slabs of at most denseSlabs.bytes each, so a product with a 545 MB table never needs more than a few tens of MB of
// arena. Which thread computes what never changes a value: every output element is one thread's whole sum
// (dense.ts gives the order).

/**
 * Largest copy of W (and of x's or y's slab) per slab. Mutable for tests only, which shrink it to check that
 * slabs change no value; nothing else may set it.
 */
export const denseSlabs = { bytes: 32 * 1024 * 1024 };
/**
 * At least this many multiply-adds per float copied (a copy costs about what 4-8 multiply-adds do, and the threads
 * save half the work on two cores): a product of a few rows with a big W is faster on one thread.
 */
const MIN_WORK_PER_COPY = 16;

/** Heap pointers (byte offsets in TensorFlow.js' memory) of one product's operands and result. */
export interface DenseOperands {
  x: number;
  w: number;
  y: number;
  M: number;
  K: number;
  N: number;
}

/** Reads the tfjs heap as float32 (a fresh view: the heap may have grown since the last one). */
export type HeapView = (pointer: number, length: number) => Float32Array;

function slabSize(perRow: number, otherPerRow: number, align: number, total: number): number {
  const rows = Math.floor(denseSlabs.bytes / (4 * Math.max(perRow, otherPerRow, 1)));
  return Math.min(total, Math.max(align, Math.floor(rows / align) * align));
}

/** Whether sharing out a product is worth it: enough work, enough to split, and little to copy per unit of work. */
function worthThreads(threads: KernelThreads, split: number, work: number, copied: number): boolean {
  return work >= MIN_THREADED_WORK && split >= 8 * threads.count && work >= MIN_WORK_PER_COPY * copied;
}

/**
 * Posts `job` to every worker, computes this thread's fixed share (`ownFirst`) and then claims chunks with the
 * workers (`own`); returns which chunks were this thread's.
 */
function runChunks(
  threads: KernelThreads,
  job: DenseJob,
  plan: RowPlan,
  ownFirst: () => void,
  own: (c: number) => void,
): Uint8Array {
  const workers = threads.count - 1;
  threads.resetChunks();
  threads.post(new Array<DenseJob>(workers).fill(job));
  const mine = new Uint8Array(plan.chunkCount);
  try {
    ownFirst();
    for (let c = threads.claimChunk(); c < plan.chunkCount; c = threads.claimChunk()) {
      own(c);
      mine[c] = 1;
    }
  } finally {
    threads.wait(workers); // the workers use the arena buffers: never free them under a running job
  }
  return mine;
}

/**
 * y = x·Wᵀ (x [M, K], W [N, K]) with the rows of W shared out, in slabs of rows of W; false, having written nothing,
 * when it is not worth the threads or the arena cannot hold a slab.
 */
export function threadedDenseNT(
  threads: KernelThreads,
  simd: Bnb4SimdExports,
  heap: HeapView,
  { x, w, y, M, K, N }: DenseOperands,
): boolean {
  const slab = slabSize(K, M, 16, N);
  // x is copied whole: a huge x stays on one thread rather than growing the arena by its size.
  if (M * K * 4 > 4 * denseSlabs.bytes || !worthThreads(threads, N, M * K * N, M * K + N * K + M * N))
    return false;
  const buffers = new CallBuffers(threads.arena);
  try {
    const offsets = buffers.allocAll([M * K * 4, slab * K * 4, M * slab * 4]);
    if (!offsets) return false;
    const [xCopy, wCopy, ySlab] = offsets as [number, number, number];
    const arena = threads.arena;
    arena.float32(xCopy, M * K).set(heap(x, M * K));
    for (let s0 = 0; s0 < N; s0 += slab) {
      const width = Math.min(slab, N - s0);
      const plan = rowPlan(width, threads.count);
      const shared = width - plan.first;
      arena.float32(wCopy, shared * K).set(heap(w + (s0 + plan.first) * K * 4, shared * K));
      const job: DenseJob = {
        kind: 'denseNT',
        x: xCopy,
        ldx: K,
        w: wCopy,
        y: ySlab,
        M,
        K,
        N: width,
        accumulate: false,
        chunkFirst: plan.first,
        chunkRows: plan.chunkRows,
        chunkCount: plan.chunkCount,
      };
      // This thread's rows of W come from the heap, straight into y (row stride N), starting at column s0.
      const mine = runChunks(
        threads,
        job,
        plan,
        () => simd.denseNT(x, w + s0 * K * 4, y + s0 * 4, M, K, N, 0, plan.first),
        (c) => {
          const [start, end] = chunkRange(plan, width, c);
          simd.denseNT(x, w + s0 * K * 4, y + s0 * 4, M, K, N, start, end);
        },
      );
      const ys = arena.float32(ySlab, M * width);
      const out = heap(y, M * N);
      for (let c = 0; c < plan.chunkCount; c++) {
        if (mine[c]) continue;
        const [start, end] = chunkRange(plan, width, c);
        for (let m = 0; m < M; m++)
          out.set(ys.subarray(m * width + start, m * width + end), m * N + s0 + start);
      }
    }
    return true;
  } finally {
    buffers.release();
  }
}

/**
 * y = x·W (x [M, K], W [K, N]) with the rows of x (and y) shared out, in slabs of rows of W (each slab's sums
 * continue the previous slab's, so the result is the one-pass sum); false, having written nothing, when it is not
 * worth the threads or the arena cannot hold a slab.
 */
export function threadedDenseNN(
  threads: KernelThreads,
  simd: Bnb4SimdExports,
  heap: HeapView,
  { x, w, y, M, K, N }: DenseOperands,
): boolean {
  const plan = rowPlan(M, threads.count);
  const shared = M - plan.first; // rows of x and y the workers may take
  const slab = slabSize(N, shared, 4, K);
  if (
    shared * N * 4 > denseSlabs.bytes ||
    !worthThreads(threads, M, M * K * N, M * K + K * N + 2 * shared * N)
  )
    return false;
  const buffers = new CallBuffers(threads.arena);
  try {
    const offsets = buffers.allocAll([shared * slab * 4, slab * N * 4, shared * N * 4]);
    if (!offsets) return false;
    const [xSlab, wSlab, ySums] = offsets as [number, number, number];
    const arena = threads.arena;
    for (let k0 = 0; k0 < K; k0 += slab) {
      const depth = Math.min(slab, K - k0);
      const xs = arena.float32(xSlab, shared * depth);
      const xHeap = heap(x, M * K);
      for (let r = 0; r < shared; r++) {
        const from = (plan.first + r) * K + k0;
        xs.set(xHeap.subarray(from, from + depth), r * depth);
      }
      arena.float32(wSlab, depth * N).set(heap(w + k0 * N * 4, depth * N));
      const accumulate = k0 > 0;
      // The shared rows' sums so far, wherever they were made, so a worker can continue any of them.
      if (accumulate) arena.float32(ySums, shared * N).set(heap(y + plan.first * N * 4, shared * N));
      const job: DenseJob = {
        kind: 'denseNN',
        x: xSlab,
        ldx: depth,
        w: wSlab,
        y: ySums,
        M,
        K: depth,
        N,
        accumulate,
        chunkFirst: plan.first,
        chunkRows: plan.chunkRows,
        chunkCount: plan.chunkCount,
      };
      const wk = w + k0 * N * 4;
      const add = accumulate ? 1 : 0;
      const mine = runChunks(
        threads,
        job,
        plan,
        () => simd.denseNN(x + k0 * 4, K, wk, y, plan.first, depth, N, 0, N, add),
        (c) => {
          const [start, end] = chunkRange(plan, M, c);
          simd.denseNN(x + (start * K + k0) * 4, K, wk, y + start * N * 4, end - start, depth, N, 0, N, add);
        },
      );
      const sums = arena.float32(ySums, shared * N);
      const out = heap(y, M * N);
      for (let c = 0; c < plan.chunkCount; c++) {
        if (mine[c]) continue;
        const [start, end] = chunkRange(plan, M, c);
        out.set(sums.subarray((start - plan.first) * N, (end - plan.first) * N), start * N);
      }
    }
    return true;
  } finally {
    buffers.release();
  }
}
