import { bnb4DequantizeImpl } from '../kernels/bnb4-dequantize/reference.js';
import { type Bnb4Arrays, blockScaleImpl, nibbleImpl } from '../kernels/bnb4-shared/arrays.js';

/** Relative error allowed of float32 kernels against the float64 reference, times sum |x_k W_nk|. */
export const FLOAT32_SUM_TOLERANCE = 4e-6;

/** Per output y[m, n]: FLOAT32_SUM_TOLERANCE * sum_k |x[m, k] W[n, k]|, plus a floor for all-zero rows. */
export function float32Tolerance(x: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K } = w;
  const weight = bnb4DequantizeImpl(w);
  const tol = new Float32Array(rows * N);
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(x[m * K + k]! * weight[n * K + k]!);
      tol[m * N + n] = FLOAT32_SUM_TOLERANCE * s + 1e-30;
    }
  }
  return tol;
}

/**
 * The bound of the wasm fixed-point kernel (assembly/fixed16.ts), from its rounding steps: each code is off by at most
 * max|code| / 16384 (scaled by its block's A_b), each activation by at most max|x over its 64-group| / 32766; on top
 * of that the float32 tolerance for the sums.
 */
export function fixed16Tolerance(
  x: Float32Array,
  rows: number,
  w: Bnb4Arrays,
  blockScales: Float32Array,
): Float32Array {
  const { outFeatures: N, inFeatures: K, blocksize } = w;
  const weight = bnb4DequantizeImpl(w);
  let codeScale = 0;
  for (const c of w.code) codeScale = Math.max(codeScale, Math.abs(c));
  const base = float32Tolerance(x, rows, w);
  for (let m = 0; m < rows; m++) {
    const groupMax = new Float64Array(K / 64);
    for (let k = 0; k < K; k++) groupMax[k >> 6] = Math.max(groupMax[k >> 6]!, Math.abs(x[m * K + k]!));
    for (let n = 0; n < N; n++) {
      let bound = 0;
      for (let k = 0; k < K; k++) {
        const a = Math.abs(blockScales[Math.floor((n * K + k) / blocksize)]!);
        bound +=
          (Math.abs(x[m * K + k]!) * a * codeScale) / 16384 +
          (groupMax[k >> 6]! / 32766) * Math.abs(weight[n * K + k]!);
      }
      base[m * N + n] = base[m * N + n]! + bound;
    }
  }
  return base;
}

/** Per dx[m, k] of dy·W: FLOAT32_SUM_TOLERANCE * sum_n |dy[m, n] W[n, k]|, plus a floor for all-zero columns. */
export function float32TransposedTolerance(dy: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K } = w;
  const weight = bnb4DequantizeImpl(w);
  const tol = new Float32Array(rows * K);
  for (let m = 0; m < rows; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += Math.abs(dy[m * N + n]! * weight[n * K + k]!);
      tol[m * K + k] = FLOAT32_SUM_TOLERANCE * s + 1e-30;
    }
  }
  return tol;
}

/** Rows of W per integer sum in the wasm fixed-point dy·W kernel (assembly/fixed16-transposed.ts). */
const TRANSPOSED_CHUNK = 16;

/**
 * The bound of the wasm fixed-point dy·W kernel (assembly/fixed16-transposed.ts), from its rounding steps: s =
 * dy[m, n] * A(n, k) is rounded against S = max|s| over its chunk of 16 rows of W (same 64-column group) to within
 * S / 32766, each code to within max|code| / 16384 (so |code'| <= |code| + max|code| / 16384); one term is off by
 * at most S / 32766 * (|code| + max|code| / 16384) + |s| * max|code| / 16384. On top of that the float32 tolerance.
 */
export function fixed16TransposedTolerance(dy: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K, blocksize } = w;
  let codeScale = 0;
  for (const c of w.code) codeScale = Math.max(codeScale, Math.abs(c));
  const scale = (n: number, k: number) => Math.abs(blockScaleImpl(w, Math.floor((n * K + k) / blocksize)));
  const code = (n: number, k: number) => Math.abs(w.code[nibbleImpl(w.packed, n * K + k)]!);
  const tol = float32TransposedTolerance(dy, rows, w);
  for (let m = 0; m < rows; m++) {
    for (let k = 0; k < K; k++) {
      let bound = 0;
      for (let n0 = 0; n0 < N; n0 += TRANSPOSED_CHUNK) {
        const end = Math.min(N, n0 + TRANSPOSED_CHUNK);
        let chunkMax = 0;
        for (let n = n0; n < end; n++) chunkMax = Math.max(chunkMax, Math.abs(dy[m * N + n]! * scale(n, k)));
        for (let n = n0; n < end; n++) {
          const s = Math.abs(dy[m * N + n]! * scale(n, k));
          bound += (chunkMax / 32766) * (code(n, k) + codeScale / 16384) + (s * codeScale) / 16384;
        }
      }
      tol[m * K + k] = tol[m * K + k]! + bound;
    }
  }
  return tol;
}
