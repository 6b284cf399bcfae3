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

/**
 * Row boundaries [0, n1, .., N] splitting W's rows evenly between `threads`, on multiples of 4 (the tile height
 * of the multi-row kernel). A row's result does not depend on the split, so threaded output is bit-identical.
 */
export function splitRows(N: number, threads: number): number[] {
  const bounds = [0];
  for (let t = 1; t < threads; t++) bounds.push(Math.min(N, Math.round((N * t) / threads / 4) * 4));
  bounds.push(N);
  return bounds;
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
 * x·Wᵀ by the fixed-point kernel on all kernel threads: the workers take the later rows of W from the arena copy
 * and write their columns of y into the arena; this thread computes the first rows straight into `out`, then
 * copies the workers' columns in. Returns false, having done nothing, when the shared memory cannot hold this
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
  const bounds = splitRows(N, threads.count);
  let weight: MirroredWeight;
  try {
    weight = mirrorWeight(arena, backend, inputs, a, bounds[1]!);
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

    const jobs: MatmulJob[] = works.map((work, w) => ({
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
      nStart: bounds[w + 1]!,
      nEnd: bounds[w + 2]!,
    }));
    threads.post(jobs);
    try {
      const work = scratch.alloc(workBytes);
      simd.matmulFixed16(x.x16, x.scales, rows, x.tables, out, work, 0, bounds[1]!);
    } finally {
      threads.wait(workers); // the workers use the arena buffers: never free them under a running job
    }
    const first = bounds[1]!;
    const ys = arena.float32(y, rows * N);
    const outs = scratch.f32(out, rows * N);
    for (let m = 0; m < rows; m++) outs.set(ys.subarray(m * N + first, (m + 1) * N), m * N + first);
    return true;
  } finally {
    for (const block of blocks) arena.release(block);
  }
}
