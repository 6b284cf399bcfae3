import { bnb4DequantizeImpl } from '../bnb4-dequantize/reference.js';
import type { Bnb4Arrays } from '../bnb4-shared/arrays.js';

/** Reference dx = dy·W for dy [rows, outFeatures]: float64 sums over the reference dequantization. */
export function bnb4MatmulTransposedImpl(dy: Float32Array, rows: number, w: Bnb4Arrays): Float32Array {
  const { outFeatures: N, inFeatures: K } = w;
  const weight = bnb4DequantizeImpl(w);
  const dx = new Float32Array(rows * K);
  const sums = new Float64Array(K);
  for (let m = 0; m < rows; m++) {
    sums.fill(0);
    for (let n = 0; n < N; n++) {
      const g = dy[m * N + n]!;
      for (let k = 0; k < K; k++) sums[k]! += g * weight[n * K + k]!;
    }
    dx.set(sums, m * K);
  }
  return dx;
}
