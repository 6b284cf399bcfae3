import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';
import {
  fixed16Rows,
  fixed16SegmentsInto,
  type TransposedCall,
} from '../bnb4-matmul-transposed/fixed16-segments.js';
import { addSums, type SumSegments, segmentRange } from '../bnb4-matmul-transposed/sum-segments.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { CallBuffers, jobWeight } from './call-buffers.js';
import type { KernelThreads, TransposedJob } from './kernel-threads.js';
import { rowPlan } from './row-plan.js';

/** What a threaded dy·W did: ran, could not run (arena full, nothing to share), or met a NaN / ±Inf in dy * A. */
export type ThreadedOutcome = 'done' | 'no-room' | 'not-finite';

/**
 * dy·W by the fixed-point kernel on all kernel threads, bit for bit as on one thread (sum-segments.ts). The
 * calling thread first computes the segments that lie (even partly) in the rows only it reads (rowPlan's `first`,
 * from the tfjs heap) and adds them up in order in `out`; every thread then claims the remaining segments one by
 * one, each computing a claimed segment's sum from zero into that segment's own slot in the arena. At the end the
 * slots are added to `out` in segment order, so who computed which segment, and when, changes nothing.
 * `call.work` is allocated here.
 */
export function threadedTransposedFixed16(
  threads: KernelThreads,
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  a: Bnb4Attrs,
  call: TransposedCall,
  segments: SumSegments,
): ThreadedOutcome {
  const { N, K, rows } = call;
  const plan = rowPlan(N, threads.count);
  // Segments from `own` on start at or after plan.first: every row of them is in the workers' copy of W.
  const own = Math.min(segments.count, Math.ceil(plan.first / segments.rows));
  const shared = segments.count - own;
  if (shared === 0) return 'no-room';
  const weight = jobWeight(threads, backend, inputs, a, plan);
  if (!weight) return 'no-room';
  const count = rows * K;
  const workBytes = simd.transposedWorkBytes(rows);
  const workers = threads.count - 1;
  const buffers = new CallBuffers(threads.arena);
  try {
    const offsets = buffers.allocAll([
      rows * N * 4,
      32,
      shared * count * 4,
      ...new Array(workers).fill(workBytes),
    ]);
    if (!offsets) return 'no-room';
    const [dyCopy, tablesCopy, slots] = offsets as [number, number, number];
    const works = offsets.slice(3);
    const arena = threads.arena;
    arena.bytes(dyCopy, rows * N * 4).set(scratch.u8(call.dy, rows * N * 4));
    arena.bytes(tablesCopy, 32).set(scratch.u8(call.tables, 32));

    const jobs: TransposedJob[] = works.map((work) => ({
      ...weight,
      chunkFirst: own * segments.rows,
      chunkRows: segments.rows,
      chunkCount: shared,
      kind: 'transposed',
      dy: dyCopy,
      rows,
      tables: tablesCopy,
      codeScale: call.codeScale,
      sums: slots,
      work,
    }));
    threads.resetChunks();
    threads.post(jobs);
    let finite = true;
    let results: number[];
    try {
      call.work = scratch.alloc(workBytes);
      const part = scratch.alloc(count * 4);
      if (own === 0) scratch.f32(call.out, count).fill(0);
      else finite = fixed16SegmentsInto(simd, scratch, call, segments, 0, own);
      for (let c = threads.claimChunk(); c < shared && finite; c = threads.claimChunk()) {
        scratch.f32(part, count).fill(0);
        finite = fixed16Rows(simd, call, part, ...segmentRange(segments, N, own + c));
        arena.float32(slots + c * count * 4, count).set(scratch.f32(part, count));
      }
    } finally {
      results = threads.wait(workers); // the workers use the arena buffers: never free them under a running job
    }
    if (!finite || results.some((r) => r !== 0)) return 'not-finite';
    const total = scratch.f32(call.out, count);
    for (let c = 0; c < shared; c++) addSums(total, arena.float32(slots + c * count * 4, count));
    simd.unpermuteSums(call.out, count);
    return 'done';
  } finally {
    buffers.release();
  }
}
