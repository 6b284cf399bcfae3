import { getKernel, type KernelConfig, registerKernel } from '@tensorflow/tfjs-core';

/** Registers each config unless that kernel already exists for that backend (a second copy of this package). */
export function registerKernels(configs: readonly KernelConfig[]): void {
  for (const config of configs) {
    if (!getKernel(config.kernelName, config.backendName)) registerKernel(config);
  }
}
