import { bnb4DequantizeImpl } from '../bnb4-dequantize/reference.js';
import type { Bnb4Arrays } from '../bnb4-shared/arrays.js';

/**
 * Reference y = x·Wᵀ for x [rows, inFeatures]: dequantize with the reference, then sum in float64 (more
 * accurate than any float32 kernel, so it serves as the oracle). Returns [rows, outFeatures] float32.
 */
export function bnb4MatmulImpl(x: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K } = w;
  const weight = bnb4DequantizeImpl(w);
  const y = new Float32Array(rows * N);
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += x[m * K + k]! * weight[n * K + k]!;
      y[m * N + n] = sum;
    }
  }
  return y;
}
