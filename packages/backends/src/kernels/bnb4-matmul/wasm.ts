import type { KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmPointer } from '../backend-access.js';
import { matmulTyped } from '../bnb4-shared/typed-array-kernels.js';
import { type Bnb4Attrs, Bnb4Matmul } from '../kernel-names.js';
import { bnb4WasmKernel, type Fixed16Codes } from '../wasm-module/bnb4-kernel.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { threadsFor } from '../wasm-threads/row-plan.js';
import { threadedFixed16 } from '../wasm-threads/threaded-matmul.js';

/**
 * The fixed-point kernel (see assembly/fixed16.ts), on the kernel threads where they pay. Returns false when x
 * holds NaN or ±Inf (the exact kernel then propagates them as float32 would).
 */
function tryFixed16(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  b: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  x: TensorInfo,
  rows: number,
  a: Bnb4Attrs,
  { tables, codeScale }: Fixed16Codes,
  out: TensorInfo,
): boolean {
  const K = a.inFeatures;
  const x16 = scratch.alloc(rows * K * 2);
  const scales = scratch.alloc((rows * K) / 16);
  if (simd.quantizeActivations(wasmPointer(b, x), rows, K, x16, scales, codeScale / 8192) !== 0) return false;
  const threads = threadsFor(rows, a);
  if (
    threads &&
    threadedFixed16(threads, simd, scratch, b, inputs, a, { x16, scales, tables, rows }, wasmPointer(b, out))
  )
    return true;
  const work = scratch.alloc(simd.fixed16WorkBytes(rows, K));
  simd.matmulFixed16(x16, scales, rows, tables, wasmPointer(b, out), work, 0, a.outFeatures);
  return true;
}

const bnb4MatmulWasm = bnb4WasmKernel({
  input: 'x',
  outColumns: (a) => a.outFeatures,
  typed: matmulTyped,
  fixed16: tryFixed16,
  exact: (simd, x, rows, out, rowBuf, table) => simd.matmulExact(x, rows, out, rowBuf, table),
});

export const bnb4MatmulWasmConfig: KernelConfig = {
  kernelName: Bnb4Matmul,
  backendName: 'wasm',
  kernelFunc: bnb4MatmulWasm,
};
