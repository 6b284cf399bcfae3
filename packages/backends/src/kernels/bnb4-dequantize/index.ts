export { bnb4DequantizeCpuConfig } from './cpu.js';
export { bnb4DequantizeImpl } from './reference.js';
export { bnb4DequantizeWasmConfig } from './wasm.js';
export { bnb4DequantizeWebGpuConfig } from './webgpu.js';
