/**
 * RMSNorm over the last axis of x [rows, D]: y = x * rsqrt(mean(x^2) + eps) * weight. Sums in float64.
 * The cpu and wasm kernels run this directly on their tensors' memory.
 */
export function rmsNormImpl(
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  D: number,
  epsilon: number,
  y: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * D;
    let sumSquares = 0;
    for (let i = 0; i < D; i++) sumSquares += x[base + i]! * x[base + i]!;
    const rstd = 1 / Math.sqrt(sumSquares / D + epsilon);
    for (let i = 0; i < D; i++) y[base + i] = x[base + i]! * rstd * weight[i]!;
  }
}
