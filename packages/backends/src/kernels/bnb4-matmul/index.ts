export { bnb4MatmulCpuConfig } from './cpu.js';
export { bnb4MatmulImpl } from './reference.js';
export { bnb4MatmulWasmConfig } from './wasm.js';
export { bnb4MatmulWebGpuConfig } from './webgpu.js';
