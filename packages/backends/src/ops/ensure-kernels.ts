import { getBackend } from '@tensorflow/tfjs-core';
import { BackendUnavailableError } from '../errors.js';
import { registerBnb4Flags } from '../kernels/bnb4-shared/flags.js';
import { registerCpuKernels } from '../register-cpu.js';
import { registerWasmKernels } from '../register-wasm.js';
import { registerWebGpuKernels } from '../register-webgpu.js';

const registrars: Record<string, () => void> = {
  cpu: registerCpuKernels,
  wasm: registerWasmKernels,
  webgpu: registerWebGpuKernels,
};

/**
 * Registers this package's kernels for the active backend (cheap after the first call), so the ops work whether
 * or not the app went through setupBackend. Returns the backend's name.
 */
export function ensureKernels(op: string): string {
  const name = getBackend();
  const register = registrars[name];
  if (!register) {
    throw new BackendUnavailableError(
      name,
      `${op} has kernels for cpu, wasm and webgpu only; call setupBackend() from @peft/backends to pick one`,
    );
  }
  registerBnb4Flags();
  register();
  return name;
}
