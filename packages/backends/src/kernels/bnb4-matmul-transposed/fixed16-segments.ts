import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { addSums, type SumSegments, segmentRange } from './sum-segments.js';

/** One dy·W call on the fixed-point kernel: pointers into the tfjs heap and the shapes. */
export interface TransposedCall {
  dy: number;
  rows: number;
  tables: number;
  codeScale: number;
  /** dx [rows, K]: the kernel's permuted sums until unpermuteSums. */
  out: number;
  /** transposedWorkBytes(rows) bytes. */
  work: number;
  N: number;
  K: number;
}

/**
 * Segments [from, to) of dy·W on this thread, in segment order (sum-segments.ts): segment `from` straight into
 * `out` (zeroed here), each later one into a zeroed scratch buffer that is then added to `out`. Leaves the sums
 * permuted. Returns false on a NaN or infinite dy * A (the caller then runs the exact kernel).
 */
export function fixed16SegmentsInto(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  call: TransposedCall,
  segments: SumSegments,
  from: number,
  to: number,
): boolean {
  const count = call.rows * call.K;
  let part = 0;
  for (let s = from; s < to; s++) {
    if (s > from && part === 0) part = scratch.alloc(count * 4); // views are taken after: the heap may grow
    const target = s === from ? call.out : part;
    scratch.f32(target, count).fill(0);
    if (!fixed16Rows(simd, call, target, ...segmentRange(segments, call.N, s))) return false;
    if (s > from) addSums(scratch.f32(call.out, count), scratch.f32(part, count));
  }
  return true;
}

/** Adds rows [start, end) of W's part of dy·W into the permuted sums at `sums`; false on NaN / ±Inf. */
export function fixed16Rows(
  simd: Bnb4SimdExports,
  call: TransposedCall,
  sums: number,
  start: number,
  end: number,
): boolean {
  return (
    simd.transposedFixed16Rows(
      call.dy,
      call.rows,
      call.tables,
      call.codeScale,
      sums,
      call.work,
      start,
      end,
    ) === 0
  );
}
