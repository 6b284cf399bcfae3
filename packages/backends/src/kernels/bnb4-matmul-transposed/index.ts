export { bnb4MatmulTransposedCpuConfig } from './cpu.js';
export { bnb4MatmulTransposedImpl } from './reference.js';
export { bnb4MatmulTransposedWasmConfig } from './wasm.js';
export { bnb4MatmulTransposedWebGpuConfig } from './webgpu.js';
