import type { KernelConfig } from '@tensorflow/tfjs-core';
import { bnb4DequantizeWebGpuConfig } from './kernels/bnb4-dequantize/index.js';
import { bnb4MatmulWebGpuConfig } from './kernels/bnb4-matmul/index.js';
import { bnb4MatmulTransposedWebGpuConfig } from './kernels/bnb4-matmul-transposed/index.js';
import { registerKernels } from './kernels/register-kernel.js';
import { rmsNormWebGpuConfig } from './kernels/rms-norm/index.js';
import { rmsNormGradWebGpuConfig } from './kernels/rms-norm-grad/index.js';

export const WEBGPU_KERNELS: readonly KernelConfig[] = [
  rmsNormWebGpuConfig,
  rmsNormGradWebGpuConfig,
  bnb4DequantizeWebGpuConfig,
  bnb4MatmulWebGpuConfig,
  bnb4MatmulTransposedWebGpuConfig,
];

export function registerWebGpuKernels(): void {
  registerKernels(WEBGPU_KERNELS);
}
