import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundSumToFloat32 } from './float32-rounding.js';
import { add, dyadic, roundToFloat32 } from './test-support/exact-float32.js';

const exactSum = (a: number, b: number): number => roundToFloat32(add(dyadic(a), dyadic(b)));

describe('roundSumToFloat32', () => {
  it('rounds once where double addition followed by Math.fround rounds twice', () => {
    // 1 + 2^-24 is the tie between 1 and the next float32 (ties to even -> 1); the tiny addend
    // puts the exact sum just above the tie, so the correct float32 is 1 + 2^-23.
    const a = 1 + 2 ** -24;
    const b = 2 ** -80;
    expect(Math.fround(a + b)).toBe(1);
    expect(roundSumToFloat32(a, b)).toBe(1 + 2 ** -23);
    expect(roundSumToFloat32(a, -b)).toBe(1);
    expect(roundSumToFloat32(-a, -b)).toBe(-(1 + 2 ** -23));
  });

  it('rounds correctly across a binade boundary, in the subnormal range and at overflow', () => {
    // Just below 2: the double sum rounds up to 2 (a power of two) while the exact value is below.
    expect(roundSumToFloat32(2 - 2 ** -24, -(2 ** -90))).toBe(exactSum(2 - 2 ** -24, -(2 ** -90)));
    expect(roundSumToFloat32(3 * 2 ** -150, 2 ** -200)).toBe(2 ** -148);
    expect(roundSumToFloat32(3 * 2 ** -150, -(2 ** -200))).toBe(2 ** -149);
    const float32Max = 3.4028234663852886e38;
    expect(roundSumToFloat32(float32Max, 2 ** 103)).toBe(Number.POSITIVE_INFINITY);
    expect(roundSumToFloat32(float32Max, 2 ** 103 - 2 ** 60)).toBe(float32Max);
  });

  it('equals the exact BigInt rounding for arbitrary doubles (random property)', () => {
    const double = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e38, max: 1e38 });
    fc.assert(
      fc.property(double, double, (a, b) => {
        const got = roundSumToFloat32(a, b);
        // The oracle has no signed zero; -0 + -0 is the one exact zero whose sign it cannot give.
        return Object.is(got, exactSum(a, b)) || (Object.is(a, -0) && Object.is(b, -0) && Object.is(got, -0));
      }),
      { numRuns: 20_000, seed: 20240601 },
    );
  });

  it('equals the exact rounding on ties perturbed by far smaller addends, where the naive sum fails', () => {
    let naiveWrong = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 2 ** 23, max: 2 ** 24 - 1 }),
        fc.integer({ min: -40, max: 40 }),
        fc.integer({ min: 30, max: 200 }),
        fc.boolean(),
        (significand, exponent, gap, positive) => {
          const tie = (significand + 0.5) * 2 ** exponent;
          const nudge = (positive ? 1 : -1) * 2 ** (exponent - gap);
          const expected = exactSum(tie, nudge);
          if (Math.fround(tie + nudge) !== expected) naiveWrong++;
          return roundSumToFloat32(tie, nudge) === expected;
        },
      ),
      { numRuns: 5_000, seed: 7 },
    );
    // Shows the cases exercise the hard path at all: a double-then-fround sum gets many wrong.
    expect(naiveWrong).toBeGreaterThan(1000);
  });
});
