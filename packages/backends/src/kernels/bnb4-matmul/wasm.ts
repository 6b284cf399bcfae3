import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes, wasmFloat32, wasmPointer } from '../backend-access.js';
import { fixed16Tables } from '../bnb4-shared/code-tables.js';
import { bnb4ExactRequested } from '../bnb4-shared/flags.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { matmulTyped } from '../bnb4-shared/typed-array-kernels.js';
import { type Bnb4Attrs, Bnb4Matmul } from '../kernel-names.js';
import { bindWeights, writePairTable } from '../wasm-module/bind-weights.js';
import { HeapScratch } from '../wasm-module/heap.js';
import { type Bnb4SimdExports, bnb4Simd } from '../wasm-module/instance.js';

/**
 * The fixed-point kernel (see assembly/fixed16.ts): needs whole 64-element groups per row that never straddle a
 * scale block. Returns false when x holds NaN or ±Inf (the exact kernel then propagates them as float32 would).
 */
function tryFixed16(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  b: WasmBackendLike,
  x: TensorInfo,
  rows: number,
  a: Bnb4Attrs,
  code: Float32Array,
  out: TensorInfo,
): boolean {
  const K = a.inFeatures;
  if (K % 64 !== 0 || a.blocksize < 64 || bnb4ExactRequested()) return false;
  const fixed = fixed16Tables(code);
  if (!fixed) return false;
  const tables = scratch.alloc(32);
  const x16 = scratch.alloc(rows * K * 2);
  const scales = scratch.alloc((rows * K) / 16);
  scratch.u8(tables, 32).set(fixed.tables);
  if (simd.quantizeActivations(wasmPointer(b, x), rows, K, x16, scales, fixed.codeScale / 8192) !== 0)
    return false;
  const work = scratch.alloc(simd.fixed16WorkBytes(rows, K));
  simd.matmulFixed16(x16, scales, rows, tables, wasmPointer(b, out), work);
  return true;
}

const bnb4MatmulWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const a = bnb4Attrs(attrs);
  const x = inputs['x']!;
  const rows = x.shape[0]!;
  const out = b.makeOutput([rows, a.outFeatures], 'float32');
  if (rows === 0 || a.outFeatures === 0) return out;
  const simd = bnb4Simd(b);
  if (!simd) {
    matmulTyped(
      wasmFloat32(b, x),
      rows,
      bnb4ArraysFromInputs(inputs, a, (t) => wasmBytes(b, t)),
      wasmFloat32(b, out),
    );
    return out;
  }
  const scratch = new HeapScratch(b);
  try {
    const code = bindWeights(simd, b, inputs, a);
    if (!tryFixed16(simd, scratch, b, x, rows, a, code, out)) {
      const table = writePairTable(scratch, code);
      const rowBuf = scratch.alloc(a.inFeatures * 4);
      simd.matmulExact(wasmPointer(b, x), rows, wasmPointer(b, out), rowBuf, table);
    }
  } finally {
    scratch.release();
  }
  return out;
};

export const bnb4MatmulWasmConfig: KernelConfig = {
  kernelName: Bnb4Matmul,
  backendName: 'wasm',
  kernelFunc: bnb4MatmulWasm,
};
