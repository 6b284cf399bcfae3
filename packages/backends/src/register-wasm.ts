import { Identity, type KernelConfig, Slice, Unpack } from '@tensorflow/tfjs-core';
import { bnb4DequantizeWasmConfig } from './kernels/bnb4-dequantize/index.js';
import { bnb4MatmulWasmConfig } from './kernels/bnb4-matmul/index.js';
import { bnb4MatmulTransposedWasmConfig } from './kernels/bnb4-matmul-transposed/index.js';
import { registerKernels } from './kernels/register-kernel.js';
import { rmsNormWasmConfig } from './kernels/rms-norm/index.js';
import { rmsNormGradWasmConfig } from './kernels/rms-norm-grad/index.js';
import { sharingIdentity } from './kernels/wasm-views/identity.js';
import { replaceWasmKernel } from './kernels/wasm-views/replace.js';
import { viewSlice, viewUnpack } from './kernels/wasm-views/slice.js';

export const WASM_KERNELS: readonly KernelConfig[] = [
  rmsNormWasmConfig,
  rmsNormGradWasmConfig,
  bnb4DequantizeWasmConfig,
  bnb4MatmulWasmConfig,
  bnb4MatmulTransposedWasmConfig,
];

/**
 * Registers our wasm kernels, and replaces three of tfjs-backend-wasm's that copy more than they must: Identity
 * shares its input's buffer (kernels/wasm-views/identity.ts says why), Slice and Unpack read the heap in place
 * (kernels/wasm-views/slice.ts). Call after tfjs-backend-wasm is imported: it registers its own kernels then.
 */
export function registerWasmKernels(): void {
  registerKernels(WASM_KERNELS);
  replaceWasmKernel(Identity, sharingIdentity);
  replaceWasmKernel(Slice, viewSlice);
  replaceWasmKernel(Unpack, viewUnpack);
}
