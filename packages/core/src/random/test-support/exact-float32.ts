// An independent, obviously-correct oracle for float32 rounding: every value becomes an exact binary
// rational (BigInt significand times a power of two), arithmetic is exact, and rounding to float32
// (nearest, ties to even, subnormals and overflow included) is done once by hand. Slow; tests only.

/** value = significand * 2^exponent, exactly. */
export interface Dyadic {
  readonly significand: bigint;
  readonly exponent: number;
}

const view = new DataView(new ArrayBuffer(8));

export function dyadic(x: number): Dyadic {
  if (!Number.isFinite(x)) throw new Error(`dyadic: ${x} is not finite`);
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const significand = biasedExponent === 0 ? fraction : fraction | (1n << 52n);
  const exponent = biasedExponent === 0 ? -1074 : biasedExponent - 1075;
  return { significand: negative ? -significand : significand, exponent };
}

export function add(a: Dyadic, b: Dyadic): Dyadic {
  const exponent = Math.min(a.exponent, b.exponent);
  const significand =
    (a.significand << BigInt(a.exponent - exponent)) + (b.significand << BigInt(b.exponent - exponent));
  return { significand, exponent };
}

export function multiply(a: Dyadic, b: Dyadic): Dyadic {
  return { significand: a.significand * b.significand, exponent: a.exponent + b.exponent };
}

export function negate(a: Dyadic): Dyadic {
  return { significand: -a.significand, exponent: a.exponent };
}

function bitLength(n: bigint): number {
  return n.toString(2).length;
}

/** Round an exact value to the nearest float32, ties to even. An exact zero gives +0. */
export function roundToFloat32(value: Dyadic): number {
  if (value.significand === 0n) return 0;
  const negative = value.significand < 0n;
  const magnitude = negative ? -value.significand : value.significand;
  const leadingExponent = value.exponent + bitLength(magnitude) - 1;
  // The weight of the last kept bit: 24 significant bits, but never below the subnormal quantum 2^-149.
  const quantum = Math.max(leadingExponent - 23, -149);
  let kept: bigint;
  if (value.exponent >= quantum) {
    kept = magnitude << BigInt(value.exponent - quantum);
  } else {
    const shift = BigInt(quantum - value.exponent);
    kept = magnitude >> shift;
    const remainder = magnitude - (kept << shift);
    const half = 1n << (shift - 1n);
    if (remainder > half || (remainder === half && (kept & 1n) === 1n)) kept += 1n;
  }
  const result = Number(kept) * 2 ** quantum;
  const rounded = result >= 2 ** 128 ? Number.POSITIVE_INFINITY : result;
  return negative ? -rounded : rounded;
}

/** Torch's float32 `uniform_` element for a 32-bit draw, computed with exact arithmetic. */
export function exactUniformFloat32(draw: number, low: number, high: number, mode: 'fma' | 'nofma'): number {
  const from32 = Math.fround(low);
  const range32 = roundToFloat32(add(dyadic(Math.fround(high)), negate(dyadic(from32))));
  const x: Dyadic = { significand: BigInt(draw & 0xffffff), exponent: -24 };
  const product = multiply(x, dyadic(range32));
  const scaled = mode === 'fma' ? product : dyadic(roundToFloat32(product));
  return roundToFloat32(add(scaled, dyadic(from32)));
}
