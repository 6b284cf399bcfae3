import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { CallBuffers, chunkRange, jobWeight } from './call-buffers.js';
import type { KernelThreads, TransposedJob } from './kernel-threads.js';
import { rowPlan } from './row-plan.js';

/** What a threaded dy·W did: ran, could not run (arena full), or met a NaN / ±Inf in dy * A. */
export type ThreadedOutcome = 'done' | 'no-room' | 'not-finite';

/**
 * dy·W by the fixed-point kernel on all kernel threads. The sum runs over rows of W, so each thread takes rows
 * (as rowPlan says) and keeps its own sums: this thread in `out` (tfjs heap), each worker in the arena; the
 * workers' sums are added into `out` at the end. Every 16-row chunk is rounded as on one thread; only the order in
 * which chunk sums are added differs, so the result agrees with one thread to float32 rounding, not bit for bit.
 */
export function threadedTransposedFixed16(
  threads: KernelThreads,
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  a: Bnb4Attrs,
  dy: number,
  rows: number,
  tables: number,
  codeScale: number,
  out: number,
): ThreadedOutcome {
  const N = a.outFeatures;
  const K = a.inFeatures;
  const plan = rowPlan(N, threads.count);
  const weight = jobWeight(threads, backend, inputs, a, plan);
  if (!weight) return 'no-room';
  const workBytes = simd.transposedWorkBytes(rows);
  const workers = threads.count - 1;
  const buffers = new CallBuffers(threads.arena);
  try {
    const offsets = buffers.allocAll([
      rows * N * 4,
      32,
      ...new Array(workers).fill(rows * K * 4),
      ...new Array(workers).fill(workBytes),
    ]);
    if (!offsets) return 'no-room';
    const [dyCopy, tablesCopy] = offsets as [number, number];
    const sums = offsets.slice(2, 2 + workers);
    const works = offsets.slice(2 + workers);
    const arena = threads.arena;
    arena.bytes(dyCopy, rows * N * 4).set(scratch.u8(dy, rows * N * 4));
    arena.bytes(tablesCopy, 32).set(scratch.u8(tables, 32));

    const jobs: TransposedJob[] = works.map((work, w) => ({
      ...weight,
      kind: 'transposed',
      dy: dyCopy,
      rows,
      tables: tablesCopy,
      codeScale,
      sums: sums[w]!,
      work,
    }));
    threads.resetChunks();
    threads.post(jobs);
    let notFinite = false;
    let results: number[];
    try {
      const work = scratch.alloc(workBytes);
      scratch.f32(out, rows * K).fill(0);
      notFinite = simd.transposedFixed16Rows(dy, rows, tables, codeScale, out, work, 0, plan.first) !== 0;
      for (let c = threads.claimChunk(); c < plan.chunkCount && !notFinite; c = threads.claimChunk()) {
        const [start, end] = chunkRange(plan, N, c);
        notFinite = simd.transposedFixed16Rows(dy, rows, tables, codeScale, out, work, start, end) !== 0;
      }
    } finally {
      results = threads.wait(workers); // the workers use the arena buffers: never free them under a running job
    }
    if (notFinite || results.some((r) => r !== 0)) return 'not-finite';
    simd.unpermuteSums(out, rows * K);
    const total = scratch.f32(out, rows * K);
    for (const offset of sums) {
      const part = arena.float32(offset, rows * K);
      for (let i = 0; i < part.length; i++) total[i]! += part[i]!;
    }
    return 'done';
  } finally {
    buffers.release();
  }
}
