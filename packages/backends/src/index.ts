// Public surface of @peft/backends. Nothing outside this file is API.
// Importing this module registers nothing and loads no backend: setupBackend (or the first op call) does.

export { BackendOptionError, BackendUnavailableError } from './errors.js';
export { bnb4DequantizeImpl as bnb4DequantizeReference } from './kernels/bnb4-dequantize/reference.js';
export { bnb4MatmulImpl as bnb4MatmulReference } from './kernels/bnb4-matmul/reference.js';
export { bnb4MatmulTransposedImpl as bnb4MatmulTransposedReference } from './kernels/bnb4-matmul-transposed/reference.js';
// References: plain typed-array implementations every kernel is tested against (for other packages' tests too)
export { type Bnb4Arrays, blockScaleImpl as bnb4BlockScaleReference } from './kernels/bnb4-shared/arrays.js';
export { BNB4_EXACT_FLAG } from './kernels/bnb4-shared/flags.js';
// The kernel mechanism, for backends or packages that add kernels
export * from './kernels/kernel-names.js';
export { rmsNormImpl as rmsNormReference } from './kernels/rms-norm/reference.js';
export { rmsNormGradImpl as rmsNormGradReference } from './kernels/rms-norm-grad/reference.js';
export { type KernelThreadStats, kernelThreadStats } from './kernels/wasm-threads/active-threads.js';
export { KernelThreadError } from './kernels/wasm-threads/kernel-threads.js';
export {
  bnb4Dequantize,
  bnb4Linear,
  bnb4Matmul,
  bnb4MatmulTransposed,
  WASM_DENSE_TRANSPOSED_MIN_ROWS,
} from './ops/bnb4.js';
export {
  type Bnb4Weights,
  bnb4WeightsFromArrays,
  bnb4WeightsToArrays,
  bytesToInt32Words,
  disposeBnb4Weights,
  validateBnb4Weights,
} from './ops/bnb4-weights.js';
// Ops
export { rmsNorm } from './ops/rms-norm.js';
export { CPU_KERNELS, registerCpuKernels } from './register-cpu.js';
export { registerWasmKernels, WASM_KERNELS } from './register-wasm.js';
export { registerWebGpuKernels, WEBGPU_KERNELS } from './register-webgpu.js';
export { registerTfjsGradients } from './setup/gradients.js';
export {
  type BackendChoice,
  type BackendName,
  type BackendSetup,
  type SetupBackendOptions,
  setupBackend,
} from './setup/setup-backend.js';
