import type { KernelConfig, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmPointer } from '../backend-access.js';
import { fixed16Tables } from '../bnb4-shared/code-tables.js';
import { matmulTyped } from '../bnb4-shared/typed-array-kernels.js';
import { type Bnb4Attrs, Bnb4Matmul } from '../kernel-names.js';
import { bnb4WasmKernel, fixed16Applies } from '../wasm-module/bnb4-kernel.js';
import type { HeapScratch } from '../wasm-module/heap.js';
import type { Bnb4SimdExports } from '../wasm-module/instance.js';
import { activeKernelThreads } from '../wasm-threads/active-threads.js';
import { threadingPays } from '../wasm-threads/row-plan.js';
import { threadedFixed16 } from '../wasm-threads/threaded-matmul.js';

/**
 * The fixed-point kernel (see assembly/fixed16.ts): needs whole 64-element groups per row that never straddle a
 * scale block. Returns false when x holds NaN or ±Inf (the exact kernel then propagates them as float32 would).
 */
function tryFixed16(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  b: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  x: TensorInfo,
  rows: number,
  a: Bnb4Attrs,
  code: Float32Array,
  out: TensorInfo,
): boolean {
  const K = a.inFeatures;
  if (!fixed16Applies(a)) return false;
  const fixed = fixed16Tables(code);
  if (!fixed) return false;
  const tables = scratch.alloc(32);
  const x16 = scratch.alloc(rows * K * 2);
  const scales = scratch.alloc((rows * K) / 16);
  scratch.u8(tables, 32).set(fixed.tables);
  if (simd.quantizeActivations(wasmPointer(b, x), rows, K, x16, scales, fixed.codeScale / 8192) !== 0)
    return false;
  const threads = activeKernelThreads();
  const prepared = { x16, scales, tables, rows };
  if (
    threadingPays(threads, rows, a) &&
    threadedFixed16(threads, simd, scratch, b, inputs, a, prepared, wasmPointer(b, out))
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
