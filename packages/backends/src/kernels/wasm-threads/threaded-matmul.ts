import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import type { KernelThreads, MatmulJob } from './kernel-threads.js';
import { SharedArenaError } from './shared-arena.js';
import { type MirroredWeight, mirrorWeight } from './weight-mirror.js';

/** Below this many multiply-adds, waking a worker costs more than it saves. */
const MIN_WORK = 1 << 21;

/** Activations already rounded by quantizeActivations, in the tfjs heap. */
export interface PreparedActivations {
  x16: number;
  scales: number;
  tables: number;
  rows: number;
}

/** How the rows of W are shared out: see rowPlan. */
export interface RowPlan {
  /** Rows 0 .. first - 1 are the calling thread's alone (read from the tfjs heap). */
  first: number;
  /** Rows first .. N - 1, in chunks of chunkRows, go to whichever thread claims them first. */
  chunkRows: number;
  chunkCount: number;
}

/**
 * The calling thread first computes 80% of an even share on its own (it needs no copy of those rows), then every
 * thread claims chunks of the rest, about eight chunks per thread, so a thread on a busy core takes fewer. Sizes
 * are multiples of 4 (the tile height of the multi-row kernel). A row's result does not depend on who computes
 * it, so threaded output is bit-identical to one thread.
 */
export function rowPlan(N: number, threads: number): RowPlan {
  const first = Math.min(N, Math.floor((0.8 * N) / threads / 4) * 4);
  const chunkRows = Math.max(4, Math.ceil((N - first) / (8 * threads) / 4) * 4);
  return { first, chunkRows, chunkCount: Math.ceil((N - first) / chunkRows) };
}

export function threadingPays(
  threads: KernelThreads | null,
  rows: number,
  a: Bnb4Attrs,
): threads is KernelThreads {
  return (
    threads !== null && rows * a.outFeatures * a.inFeatures >= MIN_WORK && a.outFeatures >= 8 * threads.count
  );
}

/**
 * x·Wᵀ by the fixed-point kernel on all kernel threads (rows shared out as rowPlan says): the workers read their
 * rows of W from the arena copy and write their columns of y into the arena; this thread computes its rows from
 * the tfjs heap straight into `out`, then copies the workers' columns in. Returns false, having done nothing, when the shared memory cannot hold this
 * weight's copy or the call's buffers (it is capped at 4 GiB): the caller then runs single-threaded.
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
  const arena = threads.arena;
  const plan = rowPlan(N, threads.count);
  let weight: MirroredWeight;
  try {
    weight = mirrorWeight(arena, backend, inputs, a, plan.first);
  } catch (err) {
    if (err instanceof SharedArenaError) return false;
    throw err;
  }

  const x16Bytes = rows * K * 2;
  const scaleBytes = (rows * K) / 16;
  const workBytes = simd.fixed16WorkBytes(rows, K);
  const workers = threads.count - 1;
  const blocks: number[] = [];
  const alloc = (bytes: number): number => {
    const offset = arena.alloc(bytes);
    blocks.push(offset);
    return offset;
  };
  try {
    let x16: number;
    let scales: number;
    let tables: number;
    let y: number;
    let works: number[];
    try {
      x16 = alloc(x16Bytes);
      scales = alloc(scaleBytes);
      tables = alloc(32);
      y = alloc(rows * N * 4);
      works = Array.from({ length: workers }, () => alloc(workBytes));
    } catch (err) {
      if (err instanceof SharedArenaError) return false;
      throw err;
    }
    arena.bytes(x16, x16Bytes).set(scratch.u8(x.x16, x16Bytes));
    arena.bytes(scales, scaleBytes).set(scratch.u8(x.scales, scaleBytes));
    arena.bytes(tables, 32).set(scratch.u8(x.tables, 32));

    const jobs: MatmulJob[] = works.map((work) => ({
      packed: weight.packedBase,
      absmax: weight.absmax,
      nested: a.nested,
      nestedAbsmax: weight.nestedAbsmax,
      nestedCode: weight.nestedCode,
      nestedBlocksize: a.nestedBlocksize,
      offset: a.offset,
      code: weight.code,
      blocksizeLog2: Math.log2(a.blocksize),
      outFeatures: N,
      inFeatures: K,
      x16,
      scales,
      rows,
      tables,
      y,
      work,
      ...plan,
      chunkFirst: plan.first,
    }));
    threads.resetChunks();
    threads.post(jobs);
    const mine = new Uint8Array(plan.chunkCount); // chunks this thread computed straight into out
    try {
      const work = scratch.alloc(workBytes);
      simd.matmulFixed16(x.x16, x.scales, rows, x.tables, out, work, 0, plan.first);
      for (let c = threads.claimChunk(); c < plan.chunkCount; c = threads.claimChunk()) {
        const start = plan.first + c * plan.chunkRows;
        simd.matmulFixed16(
          x.x16,
          x.scales,
          rows,
          x.tables,
          out,
          work,
          start,
          Math.min(N, start + plan.chunkRows),
        );
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
      const start = plan.first + c * plan.chunkRows;
      const end = Math.min(N, start + plan.chunkRows);
      for (let m = 0; m < rows; m++) outs.set(ys.subarray(m * N + start, m * N + end), m * N + start);
    }
    return true;
  } finally {
    for (const block of blocks) arena.release(block);
  }
}
