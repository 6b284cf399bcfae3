// The fast fixed-point x·Wᵀ (bnb4Matmul's default on wasm).
//
// Wasm SIMD has no gather and (in Node 20) no FMA, so decoding each nibble to a float costs more than the fp32
// multiply it feeds. Instead codes become 16-bit integers with `i8x16.swizzle` table lookups (fixed16-codes.ts)
// and activations are rounded to 16-bit integers, so `i32x4.dot_i16x8_s` does 8 multiply-adds per instruction.
//
// Rounding: codes to code * 8192 / max|code| (|error| <= 2^-14 of the largest code), activations to
// x * 16383 / max|x| over each aligned group of 64 (|error| <= 2^-15 of the group's largest). A 64-element group
// accumulates at most 16 products of |8192 * 16383| per i32 lane: 2,147,352,576 < 2^31, so the integer sums
// cannot overflow; each group's lanes are converted to float32 and scaled (A_b * activation scale) before they
// are added to anything else.

import { matvecFixed16, matvecWorkBytes } from './fixed16-matvec';
import { matmulTiles, tilesWorkBytes } from './fixed16-tiles';

/**
 * Rounds rows of x [rows, K] (K % 64 == 0) to the permuted int16 layout at `x16` (fixed16-codes.ts) and writes
 * one float scale per group of 64 to `scales` (already multiplied by `codeScale`). Returns 1 if any value is NaN
 * or infinite (the caller then takes the exact path), else 0.
 */
export function quantizeActivations(x: usize, rows: i32, K: i32, x16: usize, scales: usize, codeScale: f32): i32 {
  const groups = K >> 6;
  for (let m = 0; m < rows; m++) {
    for (let g = 0; g < groups; g++) {
      const src = x + ((<usize>m * <usize>K + (<usize>g << 6)) << 2);
      let mx = f32x4.abs(v128.load(src));
      for (let i: usize = 16; i < 256; i += 16) mx = f32x4.max(mx, f32x4.abs(v128.load(src + i)));
      const big: f32 = max(
        max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)),
        max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)),
      );
      if (!isFinite<f32>(big)) return 1; // f32x4.max and max propagate NaN
      const inv = f32x4.splat(big > 0 ? <f32>16383 / big : 0);
      store<f32>(scales + ((<usize>m * <usize>groups + <usize>g) << 2), big > 0 ? (big / <f32>16383) * codeScale : 0);
      const dst = x16 + ((<usize>m * <usize>K + (<usize>g << 6)) << 1);
      for (let half: usize = 0; half < 2; half++) {
        const s = src + (half << 7);
        const x0 = i16x8.narrow_i32x4_s(rounded(s, inv), rounded(s + 16, inv)); // x0 .. x7
        const x8 = i16x8.narrow_i32x4_s(rounded(s + 32, inv), rounded(s + 48, inv)); // x8 .. x15
        const x16_ = i16x8.narrow_i32x4_s(rounded(s + 64, inv), rounded(s + 80, inv)); // x16 .. x23
        const x24 = i16x8.narrow_i32x4_s(rounded(s + 96, inv), rounded(s + 112, inv)); // x24 .. x31
        const d = dst + (half << 6);
        v128.store(d, evenLanes(x0, x8));
        v128.store(d, evenLanes(x16_, x24), 16);
        v128.store(d, oddLanes(x0, x8), 32);
        v128.store(d, oddLanes(x16_, x24), 48);
      }
    }
  }
  return 0;
}

/** Four floats at p times inv, rounded half to even: |values| <= 16383, exact in int32 and int16. */
@inline
function rounded(p: usize, inv: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
}

@inline
function evenLanes(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
}

@inline
function oddLanes(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}

/** Scratch bytes matmulFixed16 needs for `rows` rows of x. */
export function fixed16WorkBytes(rows: i32, K: i32): i32 {
  return rows == 1 ? matvecWorkBytes(K) : tilesWorkBytes(rows);
}

/**
 * y [rows, N] = x·Wᵀ from activations prepared by quantizeActivations. Requires K % 64 == 0 and blocksize >= 64
 * (a 64-group never straddles two scale blocks). `tables` holds the 16 low then the 16 high bytes of the int16
 * codes; `work` is fixed16WorkBytes(rows, K) bytes of scratch. Computes the output columns of W's rows
 * [nStart, nEnd) only, so threads can split W by rows.
 */
export function matmulFixed16(
  x16: usize,
  scales: usize,
  rows: i32,
  tables: usize,
  y: usize,
  work: usize,
  nStart: i32,
  nEnd: i32,
): void {
  if (rows == 1) matvecFixed16(x16, scales, tables, y, work, nStart, nEnd);
  else matmulTiles(x16, scales, rows, tables, y, work, nStart, nEnd);
}
