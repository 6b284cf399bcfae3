import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { CallBuffers, chunkRange, jobWeight } from './call-buffers.js';
import type { KernelThreads, MatmulJob } from './kernel-threads.js';
import { rowPlan } from './row-plan.js';

/** Activations already rounded by quantizeActivations, in the tfjs heap. */
export interface PreparedActivations {
  x16: number;
  scales: number;
  tables: number;
  rows: number;
}

/**
 * x·Wᵀ by the fixed-point kernel on all kernel threads (rows shared out as rowPlan says): the workers read their
 * rows of W from the arena copy and write their columns of y into the arena; this thread computes its rows from
 * the tfjs heap straight into `out`, then copies the workers' columns in. Returns false, having done nothing,
 * when the shared memory cannot hold this weight's copy or the call's buffers (it is capped at 4 GiB): the caller
 * then runs single-threaded.
 */
export function threadedFixed16(
  threads: KernelThreads,
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  a: Bnb4Attrs,
  x: PreparedActivations,
  out: number,
): boolean {
  const { rows } = x;
  const N = a.outFeatures;
  const K = a.inFeatures;
  const plan = rowPlan(N, threads.count);
  const weight = jobWeight(threads, backend, inputs, a, plan);
  if (!weight) return false;
  const x16Bytes = rows * K * 2;
  const scaleBytes = (rows * K) / 16;
  const workBytes = simd.fixed16WorkBytes(rows, K);
  const workers = threads.count - 1;
  const buffers = new CallBuffers(threads.arena);
  try {
    const offsets = buffers.allocAll([
      x16Bytes,
      scaleBytes,
      32,
      rows * N * 4,
      ...new Array(workers).fill(workBytes),
    ]);
    if (!offsets) return false;
    const [x16, scales, tables, y, ...works] = offsets as [number, number, number, number, ...number[]];
    const arena = threads.arena;
    arena.bytes(x16, x16Bytes).set(scratch.u8(x.x16, x16Bytes));
    arena.bytes(scales, scaleBytes).set(scratch.u8(x.scales, scaleBytes));
    arena.bytes(tables, 32).set(scratch.u8(x.tables, 32));

    const jobs: MatmulJob[] = works.map((work) => ({
      ...weight,
      kind: 'matmul',
      x16,
      scales,
      rows,
      tables,
      y,
      work,
    }));
    threads.resetChunks();
    threads.post(jobs);
    const mine = new Uint8Array(plan.chunkCount); // chunks this thread computed straight into out
    try {
      const work = scratch.alloc(workBytes);
      simd.matmulFixed16(x.x16, x.scales, rows, x.tables, out, work, 0, plan.first);
      for (let c = threads.claimChunk(); c < plan.chunkCount; c = threads.claimChunk()) {
        const [start, end] = chunkRange(plan, N, c);
        simd.matmulFixed16(x.x16, x.scales, rows, x.tables, out, work, start, end);
        mine[c] = 1;
      }
    } finally {
      threads.wait(workers); // the workers use the arena buffers: never free them under a running job
    }
    // The workers' chunks: their columns of y, from the arena.
    const ys = arena.float32(y, rows * N);
    const outs = scratch.f32(out, rows * N);
    for (let c = 0; c < plan.chunkCount; c++) {
      if (mine[c]) continue;
      const [start, end] = chunkRange(plan, N, c);
      for (let m = 0; m < rows; m++) outs.set(ys.subarray(m * N + start, m * N + end), m * N + start);
    }
    return true;
  } finally {
    buffers.release();
  }
}
