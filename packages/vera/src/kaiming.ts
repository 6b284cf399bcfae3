import { ShapeMismatchError, type TorchGenerator, type UniformMode, uniform_ } from '@peft/core';

/**
 * The bound PEFT's VeRA `_kaiming_init` uses: `sqrt(3) * (sqrt(2) / sqrt(fan_in))`, evaluated in
 * this order in float64 as Python does (sqrt is correctly rounded in both languages, so the double is
 * the same).
 */
export function kaimingUniformBound(fanIn: number): number {
  return Math.sqrt(3) * (Math.SQRT2 / Math.sqrt(fanIn));
}

/**
 * A row-major float32 `[rows, cols]` matrix drawn like PEFT's VeRA `_kaiming_init`: fan_in = cols,
 * then `uniform_(-bound, bound)` from `generator` (which advances by rows * cols draws).
 */
export function kaimingUniform(
  shape: readonly [number, number],
  generator: TorchGenerator,
  mode: UniformMode = 'fma',
): Float32Array {
  const [rows, cols] = shape;
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new ShapeMismatchError(
      `kaimingUniform: shape ${JSON.stringify(shape)} must be two non-negative integers`,
    );
  }
  if (cols === 0) {
    throw new ShapeMismatchError(`kaimingUniform: shape ${JSON.stringify(shape)} has fan_in (cols) 0`);
  }
  const bound = kaimingUniformBound(cols);
  return uniform_(new Float32Array(rows * cols), -bound, bound, generator, { mode });
}
