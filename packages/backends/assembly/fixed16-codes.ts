// Shared pieces of the fixed-point kernels (see fixed16.ts): int16 codes looked up with `lookup` (lookup.ts), and
// per-group reductions.
//
// Codes are int16 (code * 8192 / max|code|) split into a table of low bytes `tl` and one of high bytes `th`; one
// swizzle per table turns 16 nibbles into 16 low and 16 high bytes, and two interleaves make them 16 int16 codes.
//
// Activations are stored permuted within each group of 32 so that the high and low nibbles of 16 packed bytes
// line up with them without shuffling: [x0, x2, .., x14 | x16, .., x30 | x1, .., x15 | x17, .., x31].

import { lookup } from './lookup';

@inline
export function highNibbles(bytes: v128, mask: v128): v128 {
  return v128.and(i16x8.shr_u(bytes, 4), mask);
}

@inline
export function lowNibbles(bytes: v128, mask: v128): v128 {
  return v128.and(bytes, mask);
}

/** The first 8 of 16 int16 codes, from the swizzled low bytes `l` and high bytes `h`. */
@inline
export function codesFirst(l: v128, h: v128): v128 {
  return i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/** The last 8 of 16 int16 codes. */
@inline
export function codesLast(l: v128, h: v128): v128 {
  return i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/** acc + the codes of 16 nibbles `q` dotted with 16 int16 activations at x. */
@inline
export function dotNibbles(q: v128, tl: v128, th: v128, x: usize, acc: v128): v128 {
  const l = lookup(tl, q);
  const h = lookup(th, q);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(codesFirst(l, h), v128.load(x)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(codesLast(l, h), v128.load(x, 16)));
}

/** One 64-element group: 32 packed bytes at p against 64 permuted activations at x, as four i32 partial sums. */
@inline
export function dotGroup(p: usize, x: usize, tl: v128, th: v128, mask: v128): v128 {
  const b0 = v128.load(p);
  const b1 = v128.load(p, 16);
  let acc = dotNibbles(highNibbles(b0, mask), tl, th, x, i32x4.splat(0));
  acc = dotNibbles(lowNibbles(b0, mask), tl, th, x + 32, acc);
  acc = dotNibbles(highNibbles(b1, mask), tl, th, x + 64, acc);
  return dotNibbles(lowNibbles(b1, mask), tl, th, x + 96, acc);
}

/**
 * Four groups' i32x4 partial sums -> one f32x4 of their totals. Lanes are converted before they are added: one
 * lane is below 2^31 (fixed16.ts), the total of four need not be.
 */
@inline
export function totals4(a: v128, b: v128, c: v128, d: v128): v128 {
  a = f32x4.convert_i32x4_s(a);
  b = f32x4.convert_i32x4_s(b);
  c = f32x4.convert_i32x4_s(c);
  d = f32x4.convert_i32x4_s(d);
  const ab = f32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7)); // a0+a2 b0+b2 a1+a3 b1+b3
  const cd = f32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

@inline
export function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}
