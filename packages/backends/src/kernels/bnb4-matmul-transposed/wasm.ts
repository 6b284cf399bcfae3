import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes, wasmFloat32, wasmPointer } from '../backend-access.js';
import { fixed16Tables } from '../bnb4-shared/code-tables.js';
import { bnb4ExactRequested } from '../bnb4-shared/flags.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { matmulTransposedTyped } from '../bnb4-shared/typed-array-kernels.js';
import { type Bnb4Attrs, Bnb4MatmulTransposed } from '../kernel-names.js';
import { bindWeights, writePairTable } from '../wasm-module/bind-weights.js';
import { HeapScratch } from '../wasm-module/heap.js';
import { type Bnb4SimdExports, bnb4Simd } from '../wasm-module/instance.js';

/** Whether the fixed-point kernel applies: whole 64-column groups that never straddle a scale block. */
function fixed16Applies(a: Pick<Bnb4Attrs, 'inFeatures' | 'blocksize'>): boolean {
  return a.inFeatures % 64 === 0 && a.blocksize >= 64 && !bnb4ExactRequested();
}

/**
 * Whether the wasm kernel will take its fixed-point path for this weight on this backend (the SIMD module links
 * to its heap). The op then calls it for any number of rows: it beats dequantize + XNNPACK matMul at every size.
 */
export function wasmTransposedFixed16(
  backend: unknown,
  a: Pick<Bnb4Attrs, 'inFeatures' | 'blocksize'>,
): boolean {
  return fixed16Applies(a) && bnb4Simd(backend as WasmBackendLike) !== null;
}

/**
 * The fixed-point kernel (see assembly/fixed16-transposed.ts). Returns false when it does not apply, or when some
 * dy * A is NaN or ±Inf (the exact kernel then propagates them).
 */
function tryFixed16(
  simd: Bnb4SimdExports,
  scratch: HeapScratch,
  b: WasmBackendLike,
  dy: TensorInfo,
  rows: number,
  a: Bnb4Attrs,
  code: Float32Array,
  out: TensorInfo,
): boolean {
  if (!fixed16Applies(a)) return false;
  const fixed = fixed16Tables(code);
  if (!fixed) return false;
  const tables = scratch.alloc(32);
  scratch.u8(tables, 32).set(fixed.tables);
  const work = scratch.alloc(simd.transposedWorkBytes(rows));
  return (
    simd.transposedFixed16(wasmPointer(b, dy), rows, tables, fixed.codeScale, wasmPointer(b, out), work) === 0
  );
}

const bnb4MatmulTransposedWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const a = bnb4Attrs(attrs);
  const dy = inputs['dy']!;
  const rows = dy.shape[0]!;
  const out = b.makeOutput([rows, a.inFeatures], 'float32');
  if (rows === 0 || a.inFeatures === 0) return out;
  const simd = bnb4Simd(b);
  if (!simd) {
    matmulTransposedTyped(
      wasmFloat32(b, dy),
      rows,
      bnb4ArraysFromInputs(inputs, a, (t) => wasmBytes(b, t)),
      wasmFloat32(b, out),
    );
    return out;
  }
  const scratch = new HeapScratch(b);
  try {
    const code = bindWeights(simd, b, inputs, a);
    if (!tryFixed16(simd, scratch, b, dy, rows, a, code, out)) {
      const table = writePairTable(scratch, code);
      const rowBuf = scratch.alloc(a.inFeatures * 4);
      simd.matmulTransposed(wasmPointer(b, dy), rows, wasmPointer(b, out), rowBuf, table);
    }
  } finally {
    scratch.release();
  }
  return out;
};

export const bnb4MatmulTransposedWasmConfig: KernelConfig = {
  kernelName: Bnb4MatmulTransposed,
  backendName: 'wasm',
  kernelFunc: bnb4MatmulTransposedWasm,
};
