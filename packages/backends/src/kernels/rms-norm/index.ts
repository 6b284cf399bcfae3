export { rmsNormCpuConfig } from './cpu.js';
export { rmsNormImpl } from './reference.js';
export { rmsNormWasmConfig } from './wasm.js';
export { rmsNormWebGpuConfig } from './webgpu.js';
