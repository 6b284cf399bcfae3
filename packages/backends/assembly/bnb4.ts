// AssemblyScript source of the wasm SIMD kernels behind the bnb4 ops on the TensorFlow.js wasm backend: the
// module's entry, listing its exports. Build: `pnpm --filter @peft/backends build:wasm` (scripts/build-wasm.mjs),
// which writes assets/bnb4-simd.wasm and src/kernels/wasm-module/bnb4-simd.generated.ts.
//
// The module imports TensorFlow.js' own WebAssembly.Memory, so kernels read the weights and activations where
// tfjs keeps them and write straight into the output tensor: no copies. It therefore must never touch memory it
// was not handed: no allocation (stub runtime, never called), no data segments (no string literals, no static
// arrays; the build script checks), every pointer comes from the caller (allocated with tfjs' own malloc).
//
// Files: weights.ts (the bound weight), exact.ts (float32 kernels), fixed16*.ts (the fixed-point x·Wᵀ and, in
// fixed16-transposed.ts, dy·W), dense.ts (dense float32 products, for TensorFlow.js' BatchMatMul).

export { bindWeights } from './weights';
export { columnSums, denseNN, denseNT } from './dense';
export { dequantizeRange, matmulExact, matmulTransposed } from './exact';
export { fixed16WorkBytes, matmulFixed16, quantizeActivations } from './fixed16';
export {
  transposedFixed16,
  transposedFixed16Rows,
  transposedWorkBytes,
  unpermuteSums,
} from './fixed16-transposed';
