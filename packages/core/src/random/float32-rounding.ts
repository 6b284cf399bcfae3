// Scratch space for reading a double's bits; module-level so the hot loops never allocate.
const scratch = new DataView(new ArrayBuffer(8));

/**
 * Round-to-odd of `sum + error` to double precision, where `sum` is the nearest double to the exact
 * value and `error` the (non-zero) remainder: of the two doubles around the exact value, pick the one
 * with an odd last bit. Rounding that to float32 then gives the correctly rounded float32 of the
 * exact value (53 >= 24 + 2 bits), which a plain `Math.fround(sum)` would not when `sum` lands on a
 * float32 tie.
 */
function roundToOdd(sum: number, error: number): number {
  scratch.setFloat64(0, sum, true);
  const low = scratch.getUint32(0, true);
  if ((low & 1) === 1) return sum;
  if (sum > 0 === error > 0) {
    // Step away from zero; `low` is even, so adding one never carries.
    scratch.setUint32(0, low + 1, true);
  } else if (low !== 0) {
    scratch.setUint32(0, low - 1, true);
  } else {
    // Borrow from the high word; `sum` is not zero, so its magnitude bits there are not all zero.
    scratch.setUint32(0, 0xffffffff, true);
    scratch.setUint32(4, scratch.getUint32(4, true) - 1, true);
  }
  return scratch.getFloat64(0, true);
}

/**
 * The float32 nearest (ties to even) to the exact sum `a + b` of two finite doubles, i.e. what one
 * IEEE float32 addition (or the final rounding of a float32 FMA) produces. TwoSum recovers the
 * rounding error of the double addition exactly; only when it is non-zero is round-to-odd needed.
 * Valid while `a + b` does not overflow double, which float32-sized operands never do.
 */
export function roundSumToFloat32(a: number, b: number): number {
  const sum = a + b;
  const aPart = sum - b;
  const bPart = sum - aPart;
  const error = a - aPart + (b - bPart);
  return Math.fround(error === 0 ? sum : roundToOdd(sum, error));
}
