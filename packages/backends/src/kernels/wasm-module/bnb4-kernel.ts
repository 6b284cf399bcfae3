import type { KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes, wasmFloat32, wasmPointer } from '../backend-access.js';
import type { Bnb4Arrays } from '../bnb4-shared/arrays.js';
import { fixed16Tables } from '../bnb4-shared/code-tables.js';
import { bnb4ExactRequested } from '../bnb4-shared/flags.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import { bindWeights, writePairTable } from './bind-weights.js';
import { HeapScratch } from './heap.js';
import { type Bnb4SimdExports, bnb4Simd } from './instance.js';

/** Whether a fixed-point kernel applies: whole 64-column groups that never straddle a scale block. */
export function fixed16Applies(a: Pick<Bnb4Attrs, 'inFeatures' | 'blocksize'>): boolean {
  return a.inFeatures % 64 === 0 && a.blocksize >= 64 && !bnb4ExactRequested();
}

/** The fixed-point kernels' code tables in the heap (low then high bytes of the int16 codes) and max|code|. */
export interface Fixed16Codes {
  tables: number;
  codeScale: number;
}

/** The code tables for a fixed-point kernel, written into scratch, or null where that kernel does not apply. */
function fixed16Codes(scratch: HeapScratch, a: Bnb4Attrs, code: Float32Array): Fixed16Codes | null {
  if (!fixed16Applies(a)) return null;
  const fixed = fixed16Tables(code);
  if (!fixed) return null;
  const tables = scratch.alloc(32);
  scratch.u8(tables, 32).set(fixed.tables);
  return { tables, codeScale: fixed.codeScale };
}

/** Everything that differs between the two 4-bit products on the wasm backend (x·Wᵀ and dy·W). */
export interface Bnb4WasmProduct {
  /** Name of the activation input ("x" or "dy"). */
  input: string;
  /** Columns of the output for this weight. */
  outColumns(a: Bnb4Attrs): number;
  /** Plain typed-array kernel, used when the SIMD module cannot link to this backend's heap. */
  typed(input: Float32Array, rows: number, weights: Bnb4Arrays, out: Float32Array): void;
  /**
   * The fixed-point SIMD kernel, called where it applies, with the int16 code tables already in the heap; false
   * when the input holds values it cannot take (NaN, ±Inf: the exact kernel then runs).
   */
  fixed16(
    simd: Bnb4SimdExports,
    scratch: HeapScratch,
    b: WasmBackendLike,
    inputs: NamedTensorInfoMap,
    input: TensorInfo,
    rows: number,
    a: Bnb4Attrs,
    codes: Fixed16Codes,
    out: TensorInfo,
  ): boolean;
  /** The exact float32 SIMD kernel. */
  exact(simd: Bnb4SimdExports, input: number, rows: number, out: number, rowBuf: number, table: number): void;
}

/**
 * The shared dispatch of a 4-bit product on the wasm backend: output allocation, the typed-array fallback,
 * binding the packed weights in place, then the fixed-point kernel or the exact one, with scratch memory
 * released whatever happens.
 */
export function bnb4WasmKernel(product: Bnb4WasmProduct): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as unknown as WasmBackendLike;
    const a = bnb4Attrs(attrs);
    const input = inputs[product.input]!;
    const rows = input.shape[0]!;
    const columns = product.outColumns(a);
    const out = b.makeOutput([rows, columns], 'float32');
    if (rows === 0 || columns === 0) return out;
    const simd = bnb4Simd(b);
    if (!simd) {
      product.typed(
        wasmFloat32(b, input),
        rows,
        bnb4ArraysFromInputs(inputs, a, (t) => wasmBytes(b, t)),
        wasmFloat32(b, out),
      );
      return out;
    }
    const scratch = new HeapScratch(b);
    try {
      const code = bindWeights(simd, b, inputs, a);
      const codes = fixed16Codes(scratch, a, code);
      if (!codes || !product.fixed16(simd, scratch, b, inputs, input, rows, a, codes, out)) {
        const table = writePairTable(scratch, code);
        const rowBuf = scratch.alloc(a.inFeatures * 4);
        product.exact(simd, wasmPointer(b, input), rows, wasmPointer(b, out), rowBuf, table);
      }
    } finally {
      scratch.release();
    }
    return out;
  };
}
