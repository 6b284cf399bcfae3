import type { KernelConfig } from '@tensorflow/tfjs-core';
import { bnb4DequantizeWasmConfig } from './kernels/bnb4-dequantize/index.js';
import { bnb4MatmulWasmConfig } from './kernels/bnb4-matmul/index.js';
import { bnb4MatmulTransposedWasmConfig } from './kernels/bnb4-matmul-transposed/index.js';
import { registerKernels } from './kernels/register-kernel.js';
import { rmsNormWasmConfig } from './kernels/rms-norm/index.js';
import { rmsNormGradWasmConfig } from './kernels/rms-norm-grad/index.js';

export const WASM_KERNELS: readonly KernelConfig[] = [
  rmsNormWasmConfig,
  rmsNormGradWasmConfig,
  bnb4DequantizeWasmConfig,
  bnb4MatmulWasmConfig,
  bnb4MatmulTransposedWasmConfig,
];

export function registerWasmKernels(): void {
  registerKernels(WASM_KERNELS);
}
