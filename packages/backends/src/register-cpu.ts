import type { KernelConfig } from '@tensorflow/tfjs-core';
import { bnb4DequantizeCpuConfig } from './kernels/bnb4-dequantize/index.js';
import { bnb4MatmulCpuConfig } from './kernels/bnb4-matmul/index.js';
import { bnb4MatmulTransposedCpuConfig } from './kernels/bnb4-matmul-transposed/index.js';
import { registerKernels } from './kernels/register-kernel.js';
import { rmsNormCpuConfig } from './kernels/rms-norm/index.js';
import { rmsNormGradCpuConfig } from './kernels/rms-norm-grad/index.js';

export const CPU_KERNELS: readonly KernelConfig[] = [
  rmsNormCpuConfig,
  rmsNormGradCpuConfig,
  bnb4DequantizeCpuConfig,
  bnb4MatmulCpuConfig,
  bnb4MatmulTransposedCpuConfig,
];

export function registerCpuKernels(): void {
  registerKernels(CPU_KERNELS);
}
