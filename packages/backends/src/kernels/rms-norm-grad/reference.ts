/**
 * Gradients of y = x * r * w with r = (mean(x^2) + eps)^-1/2, per row:
 *   dw_i = sum over rows of dy_i * x_i * r
 *   dx_i = r * w_i * dy_i - x_i * r^3 / D * sum_j dy_j * w_j * x_j
 * (d r / d x_i = -r^3 x_i / D). Sums in float64.
 */
export function rmsNormGradImpl(
  dy: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  D: number,
  epsilon: number,
  dx: Float32Array,
  dweight: Float32Array,
): void {
  const dw = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const base = r * D;
    let sumSquares = 0;
    let dot = 0;
    for (let i = 0; i < D; i++) {
      sumSquares += x[base + i]! * x[base + i]!;
      dot += dy[base + i]! * weight[i]! * x[base + i]!;
    }
    const rstd = 1 / Math.sqrt(sumSquares / D + epsilon);
    const correction = (rstd * rstd * rstd * dot) / D;
    for (let i = 0; i < D; i++) {
      dx[base + i] = rstd * weight[i]! * dy[base + i]! - x[base + i]! * correction;
      dw[i] = dw[i]! + dy[base + i]! * x[base + i]! * rstd;
    }
  }
  dweight.set(dw);
}
