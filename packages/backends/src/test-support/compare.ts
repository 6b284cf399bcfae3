import { f16BitsToFloat, floatToF16Bits } from '@peft/core';
import { expect } from 'vitest';

/** Exact float32 equality element by element, with -0 equal to +0 (bitsandbytes itself differs on the sign of 0). */
export function expectSameFloats(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a !== e && !(Number.isNaN(a) && Number.isNaN(e))) {
      expect.fail(`${what}: element ${i} is ${a}, expected ${e}`);
    }
  }
}

export function roundToF16(values: Float32Array): Float32Array {
  return values.map((v) => f16BitsToFloat(floatToF16Bits(v)));
}

/**
 * |actual - expected| <= tolerance[i] element by element (NaN must match NaN); reports the worst element.
 */
export function expectWithin(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: ArrayLike<number>,
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) expect.fail(`${what}: element ${i} is ${a}, expected ${e}`);
      continue;
    }
    const ratio = Math.abs(a - e) / tolerance[i]!;
    if (!(ratio <= 1) && ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ± ${tolerance[worst]} (${worstRatio.toFixed(2)}x the tolerance)`,
    );
  }
}
