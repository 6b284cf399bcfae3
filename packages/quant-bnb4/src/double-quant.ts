// Double quantization (bitsandbytes `compress_statistics=True`): the per-block float32 absmax values
// are centred on their mean and quantized again with the 8-bit signed dynamic map in blocks of 256.
import { blockAbsmax, encodeDynamic8 } from './encode.js';
import { DYNAMIC_MAP_SIGNED } from './tables.js';
import { type Bnb4NestedState, NESTED_BLOCKSIZE } from './types.js';

const TWO_POW_MINUS_149 = 2 ** -149;

/**
 * float32 of the correctly rounded mean, `f32(fsum(values) / n)`, which is how the reference defines
 * `offset` (torch's float32 mean may differ in the last ulp, depending on its reduction order).
 *
 * The sum is exact: every float32 is an integer multiple of 2^-149, so mantissas are added per binary
 * exponent in float64 (exact below 2^29 addends per exponent) and the 255 partial sums combined as a
 * BigInt; `Number(bigint)` then rounds once, to nearest even.
 */
export function float32Mean(values: Float32Array): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const positive = new Float64Array(256);
  const negative = new Float64Array(256);
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const exponent = (b >>> 23) & 0xff;
    const mantissa = exponent === 0 ? b & 0x7fffff : (b & 0x7fffff) | 0x800000;
    if (b >>> 31) negative[exponent]! += mantissa;
    else positive[exponent]! += mantissa;
  }
  if (positive[255] || negative[255]) {
    // Inf or NaN among the values: the plain float64 sum gives the IEEE answer.
    let s = 0;
    for (let i = 0; i < n; i++) s += values[i]!;
    return Math.fround(s / n);
  }
  let total = 0n;
  for (let e = 0; e < 255; e++) {
    const shift = BigInt(e === 0 ? 0 : e - 1);
    const net = BigInt(positive[e]!) - BigInt(negative[e]!);
    if (net !== 0n) total += net << shift;
  }
  const sum = Number(total) * TWO_POW_MINUS_149;
  return Math.fround(sum / n);
}

/** 8-bit blockwise quantization (`quantize_blockwise`) of `values` with `map`, `blocksize` values per scale. */
export function quantizeBlockwise8(
  values: Float32Array,
  blocksize: number,
  map: Float32Array = DYNAMIC_MAP_SIGNED,
): { codes: Uint8Array; absmax: Float32Array } {
  const n = values.length;
  const blocks = Math.ceil(n / blocksize);
  const codes = new Uint8Array(n);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const start = b * blocksize;
    const end = Math.min(n, start + blocksize);
    const max = blockAbsmax(values, start, end);
    absmax[b] = max;
    const inv = Math.fround(1 / max);
    for (let i = start; i < end; i++) codes[i] = encodeDynamic8(Math.fround(values[i]! * inv), map);
  }
  return { codes, absmax };
}

/** Compresses float32 absmax statistics: offset = mean, then 8-bit codes of (absmax - offset). */
export function compressAbsmax(absmax: Float32Array): Bnb4NestedState {
  const offset = float32Mean(absmax);
  const centred = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centred[i] = absmax[i]! - offset;
  const { codes, absmax: nestedAbsmax } = quantizeBlockwise8(centred, NESTED_BLOCKSIZE);
  return {
    codes,
    absmax: nestedAbsmax,
    code: DYNAMIC_MAP_SIGNED.slice(),
    blocksize: NESTED_BLOCKSIZE,
    offset,
  };
}

/** The float32 absmax each 4-bit block is dequantized with: `f32(f32(map[q] * absmax2) + offset)`. */
export function recoverAbsmax(nested: Bnb4NestedState): Float32Array {
  const { codes, absmax, code, blocksize, offset } = nested;
  const out = new Float32Array(codes.length);
  for (let b = 0; b < codes.length; b++) {
    const scale = absmax[Math.floor(b / blocksize)]!;
    out[b] = Math.fround(Math.fround(code[codes[b]!]! * scale) + offset);
  }
  return out;
}
