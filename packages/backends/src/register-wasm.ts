import {
  BatchMatMul,
  Identity,
  type KernelConfig,
  type KernelFunc,
  Slice,
  Sum,
  Unpack,
} from '@tensorflow/tfjs-core';
import { bnb4DequantizeWasmConfig } from './kernels/bnb4-dequantize/index.js';
import { bnb4MatmulWasmConfig } from './kernels/bnb4-matmul/index.js';
import { bnb4MatmulTransposedWasmConfig } from './kernels/bnb4-matmul-transposed/index.js';
import { columnSum } from './kernels/dense-matmul/column-sum.js';
import { denseBatchMatMul } from './kernels/dense-matmul/wasm.js';
import { registerKernels } from './kernels/register-kernel.js';
import { rmsNormWasmConfig } from './kernels/rms-norm/index.js';
import { rmsNormGradWasmConfig } from './kernels/rms-norm-grad/index.js';
import { sharingIdentity } from './kernels/wasm-views/identity.js';
import { replaceWasmKernel, restoreWasmKernel } from './kernels/wasm-views/replace.js';
import { viewSlice, viewUnpack } from './kernels/wasm-views/slice.js';

export const WASM_KERNELS: readonly KernelConfig[] = [
  rmsNormWasmConfig,
  rmsNormGradWasmConfig,
  bnb4DequantizeWasmConfig,
  bnb4MatmulWasmConfig,
  bnb4MatmulTransposedWasmConfig,
];

/**
 * Registers our wasm kernels, and replaces five of tfjs-backend-wasm's: Identity shares its input's buffer
 * (kernels/wasm-views/identity.ts says why), Slice and Unpack read the heap in place (kernels/wasm-views/slice.ts),
 * BatchMatMul runs large 2-D products on our dense kernels, on the kernel threads (kernels/dense-matmul/wasm.ts),
 * and Sum over leading axes adds rows in place instead of transposing first (kernels/dense-matmul/column-sum.ts).
 * `stockKernels` puts tfjs-backend-wasm's own five back (for comparisons). Call after tfjs-backend-wasm is imported: it registers its own kernels then.
 */
export function registerWasmKernels(options: { stockKernels?: boolean } = {}): void {
  registerKernels(WASM_KERNELS);
  const replacements: [string, (stock: KernelFunc | null) => KernelFunc][] = [
    [Identity, sharingIdentity],
    [Slice, viewSlice],
    [Unpack, viewUnpack],
    [BatchMatMul, denseBatchMatMul],
    [Sum, columnSum],
  ];
  for (const [name, make] of replacements) {
    if (options.stockKernels) restoreWasmKernel(name);
    else replaceWasmKernel(name, make);
  }
}
