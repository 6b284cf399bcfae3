import type { Bnb4Arrays } from './arrays.js';
import { dequantizeRangeInto } from './dequantize-range.js';

// Fused typed-array kernels: the cpu backend's implementation, and the wasm backend's fallback when its SIMD
// module cannot share TensorFlow.js' memory. W is decoded one row at a time into a K-float scratch row; no dense
// W is ever held.

export function dequantizeTyped(w: Bnb4Arrays, out: Float32Array): void {
  dequantizeRangeInto(w, 0, w.outFeatures * w.inFeatures, out);
}

/** y [rows, N] = x [rows, K] · Wᵀ. */
export function matmulTyped(x: Float32Array, rows: number, w: Bnb4Arrays, y: Float32Array): void {
  const { outFeatures: N, inFeatures: K } = w;
  const row = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    dequantizeRangeInto(w, n * K, n * K + K, row);
    for (let m = 0; m < rows; m++) {
      const base = m * K;
      let s0 = 0;
      let s1 = 0;
      let k = 0;
      for (; k + 1 < K; k += 2) {
        s0 += x[base + k]! * row[k]!;
        s1 += x[base + k + 1]! * row[k + 1]!;
      }
      if (k < K) s0 += x[base + k]! * row[k]!;
      y[m * N + n] = s0 + s1;
    }
  }
}

/** dx [rows, K] = dy [rows, N] · W. */
export function matmulTransposedTyped(dy: Float32Array, rows: number, w: Bnb4Arrays, dx: Float32Array): void {
  const { outFeatures: N, inFeatures: K } = w;
  const row = new Float32Array(K);
  const sums = new Float64Array(rows * K);
  for (let n = 0; n < N; n++) {
    dequantizeRangeInto(w, n * K, n * K + K, row);
    for (let m = 0; m < rows; m++) {
      const g = dy[m * N + n]!;
      if (g === 0) continue;
      const base = m * K;
      for (let k = 0; k < K; k++) sums[base + k] = sums[base + k]! + g * row[k]!;
    }
  }
  dx.set(sums);
}
