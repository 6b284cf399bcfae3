import type { KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmPointer } from '../backend-access.js';
import { matmulTransposedTyped } from '../bnb4-shared/typed-array-kernels.js';
import { type Bnb4Attrs, Bnb4MatmulTransposed } from '../kernel-names.js';
import { bnb4WasmKernel, type Fixed16Codes, fixed16Applies } from '../wasm-module/bnb4-kernel.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import { type Bnb4SimdExports, bnb4Simd } from '../wasm-module/instance.js';
import { threadsFor } from '../wasm-threads/row-plan.js';
import { threadedTransposedFixed16 } from '../wasm-threads/threaded-transposed.js';
import { fixed16SegmentsInto, type TransposedCall } from './fixed16-segments.js';
import { sumSegments } from './sum-segments.js';

/**
 * Whether the wasm kernel will take its fixed-point path for this weight on this backend (the SIMD module links
 * to its heap). The op then calls it for any number of rows: it beats dequantize + XNNPACK matMul at every size.
 */
export function wasmTransposedFixed16(
  backend: unknown,
  a: Pick<Bnb4Attrs, 'inFeatures' | 'blocksize'>,
): boolean {
  return fixed16Applies(a) && bnb4Simd(backend as WasmBackendLike) !== null;
}

/**
 * The fixed-point kernel (see assembly/fixed16-transposed.ts), on the kernel threads where they pay. Partial sums
 * are added in the fixed segment order of sum-segments.ts on one thread as on many, so dx is bit for bit the same
 * whatever the thread count. Returns false when some dy * A is NaN or ±Inf (the exact kernel then propagates them).
 */
function tryFixed16(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  b: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  dy: TensorInfo,
  rows: number,
  a: Bnb4Attrs,
  { tables, codeScale }: Fixed16Codes,
  out: TensorInfo,
): boolean {
  const segments = sumSegments(a.outFeatures, rows, a.inFeatures);
  const call: TransposedCall = {
    dy: wasmPointer(b, dy),
    rows,
    tables,
    codeScale,
    out: wasmPointer(b, out),
    work: 0,
    N: a.outFeatures,
    K: a.inFeatures,
  };
  const threads = threadsFor(rows, a);
  if (threads) {
    const outcome = threadedTransposedFixed16(threads, simd, scratch, b, inputs, a, call, segments);
    if (outcome !== 'no-room') return outcome === 'done';
  }
  call.work = scratch.alloc(simd.transposedWorkBytes(rows));
  if (!fixed16SegmentsInto(simd, scratch, call, segments, 0, segments.count)) return false;
  simd.unpermuteSums(call.out, rows * a.inFeatures);
  return true;
}

const bnb4MatmulTransposedWasm = bnb4WasmKernel({
  input: 'dy',
  outColumns: (a) => a.inFeatures,
  typed: matmulTransposedTyped,
  fixed16: tryFixed16,
  exact: (simd, dy, rows, out, rowBuf, table) => simd.matmulTransposed(dy, rows, out, rowBuf, table),
});

export const bnb4MatmulTransposedWasmConfig: KernelConfig = {
  kernelName: Bnb4MatmulTransposed,
  backendName: 'wasm',
  kernelFunc: bnb4MatmulTransposedWasm,
};
