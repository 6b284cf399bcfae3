export { rmsNormGradCpuConfig } from './cpu.js';
export { rmsNormGradImpl } from './reference.js';
export { rmsNormGradWasmConfig } from './wasm.js';
export { rmsNormGradWebGpuConfig } from './webgpu.js';
