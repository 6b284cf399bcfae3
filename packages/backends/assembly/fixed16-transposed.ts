// The fixed-point dy·W (the input gradient of x·Wᵀ, bnb4MatmulTransposed's default on wasm).
//
// dx[m, k] = sum_n dy[m, n] W[n, k] sums over rows of W, and every row has its own block scales, so the scale
// goes with dy: s[m, n] = dy[m, n] * A(n, block of k) is rounded to int16 per chunk of 16 rows of W and group of
// 64 columns (s * 16383 / max|s| over the chunk), codes are the forward kernel's int16 codes, and
// `i32x4.dot_i16x8_s` multiplies pairs of rows (n, n + 1) at once: codes of the two rows interleaved against
// (s16[n], s16[n + 1]) splatted. Sixteen rows put at most 16 products of |8192 * 16383| in an i32 lane (the same
// bound as the forward kernel, < 2^31); each chunk's sums are converted to float32 and scaled before they are
// added to anything else.
//
// Sixteen columns at a time: 8 packed bytes of row n and 8 of row n + 1 share one vector, so one swizzle per
// table decodes both rows. The float sums accumulate in dx itself, permuted per 16 columns (even columns, then
// odd), and are put in order at the end.

import { codesFirst, codesLast, highNibbles, lowNibbles } from './fixed16-codes';
import { rowGroupScales } from './fixed16-scales';
import { gK, gN, gPacked } from './weights';
import { lookup } from './lookup';

const CHUNK: i32 = 16; // rows of W per integer sum
const PAIRS: i32 = CHUNK >> 1;
const ROW_BLOCK: i32 = 32; // rows of dy whose pairs and sums stay in cache while all of W passes

/** Scratch bytes transposedFixed16 needs for `rows` rows of dy. */
export function transposedWorkBytes(rows: i32): i32 {
  const groups = gK >> 6;
  const block = min(rows, ROW_BLOCK);
  const scalesBytes = (groups * CHUNK) << 2; // A per (group, row of the chunk)
  const rowBytes = groups << 2; // one row of A, as rowGroupScales writes it
  const dyBytes = CHUNK << 2; // a zero-padded chunk of one dy row
  const pairBytes = (block * groups * PAIRS) << 2; // the int16 pairs of s per (row of dy, group)
  const multiplierBytes = (block * groups) << 2;
  const codeBytes = PAIRS << 6; // one 16-column block's interleaved codes (rows > 1)
  return scalesBytes + rowBytes + dyBytes + pairBytes + multiplierBytes + codeBytes;
}

/**
 * dx [rows, K] = dy [rows, N] · W. Requires K % 64 == 0 and blocksize >= 64. `tables` as matmulFixed16's;
 * `codeScale` = max|code|; `work` is transposedWorkBytes(rows) bytes. dx itself holds the float sums (permuted per
 * 16 columns until the end). Returns 1 if some dy[m, n] * A is NaN or infinite, leaving dx unspecified (the caller
 * then runs the exact kernel, which writes all of it), else 0.
 */
export function transposedFixed16(dy: usize, rows: i32, tables: usize, codeScale: f32, dx: usize, work: usize): i32 {
  memory.fill(dx, 0, <usize>(rows * gK) << 2);
  if (transposedFixed16Rows(dy, rows, tables, codeScale, dx, work, 0, gN) != 0) return 1;
  unpermuteSums(dx, rows * gK);
  return 0;
}

/**
 * Adds the part of dy · W that rows [nStart, nEnd) of W contribute to the permuted sums at `sums` [rows, K] (threads
 * split W by rows and each keeps its own sums). nStart must be a multiple of 16 and nEnd one or N, so every chunk
 * of 16 rows is rounded as one thread would round it. Returns 1 on a NaN or infinite dy * A, else 0.
 */
export function transposedFixed16Rows(
  dy: usize,
  rows: i32,
  tables: usize,
  codeScale: f32,
  sums: usize,
  work: usize,
  nStart: i32,
  nEnd: i32,
): i32 {
  const N = gN;
  const K = gK;
  const groups = K >> 6;
  const chunkScales = work;
  const rowScales = chunkScales + (<usize>(groups * CHUNK) << 2);
  const dyChunk = rowScales + (<usize>groups << 2);
  const pairs = dyChunk + (<usize>CHUNK << 2);
  const multipliers = pairs + (<usize>(min(rows, ROW_BLOCK) * groups * PAIRS) << 2);
  const pairCodes = multipliers + (<usize>(min(rows, ROW_BLOCK) * groups) << 2);
  const unit = codeScale / <f32>8192;
  for (let m0 = 0; m0 < rows; m0 += ROW_BLOCK) {
    const block = min(ROW_BLOCK, rows - m0);
    const blockSums = sums + ((<usize>m0 * <usize>K) << 2);
    for (let n0 = nStart; n0 < nEnd; n0 += CHUNK) {
      const count = min(CHUNK, nEnd - n0);
      writeChunkScales(n0, count, groups, rowScales, chunkScales);
      for (let m = 0; m < block; m++) {
        let d = dy + ((<usize>(m0 + m) * <usize>N + <usize>n0) << 2);
        if (count < CHUNK) {
          memory.fill(dyChunk, 0, <usize>CHUNK << 2);
          memory.copy(dyChunk, d, <usize>count << 2);
          d = dyChunk;
        }
        const pm = pairs + (<usize>(m * groups * PAIRS) << 2);
        const fm = multipliers + (<usize>(m * groups) << 2);
        for (let g = 0; g < groups; g++) {
          const a = chunkScales + (<usize>(g * CHUNK) << 2);
          if (!roundScales(d, a, unit, pm + (<usize>(g * PAIRS) << 2), fm + (<usize>g << 2))) return 1;
        }
      }
      if (block == 1) accumulateOneRow(n0, count, tables, pairs, multipliers, blockSums);
      else accumulateRows(n0, count, block, tables, pairs, multipliers, pairCodes, blockSums);
    }
  }
  return 0;
}

/** out[g * CHUNK + r] = A of (row n0 + r, group g); 0 for r >= count. */
function writeChunkScales(n0: i32, count: i32, groups: i32, row: usize, out: usize): void {
  if (count < CHUNK) memory.fill(out, 0, <usize>(groups * CHUNK) << 2);
  for (let r = 0; r < count; r++) {
    const from = rowGroupScales(n0 + r, row);
    for (let g = 0; g < groups; g++) {
      store<f32>(out + (<usize>(g * CHUNK + r) << 2), load<f32>(from + (<usize>g << 2)));
    }
  }
}

/**
 * s = dy[r] * a[r] for the chunk's 16 rows, rounded to int16 against their largest; the 16 int16 are stored in
 * row order, which read as eight i32 are the pairs (s16[2p] low, s16[2p + 1] high). *multiplier = max|s| / 16383
 * * unit. Returns false if some s is NaN or infinite.
 */
function roundScales(dyChunk: usize, a: usize, unit: f32, pairsOut: usize, multiplier: usize): bool {
  const s0 = f32x4.mul(v128.load(dyChunk), v128.load(a));
  const s1 = f32x4.mul(v128.load(dyChunk, 16), v128.load(a, 16));
  const s2 = f32x4.mul(v128.load(dyChunk, 32), v128.load(a, 32));
  const s3 = f32x4.mul(v128.load(dyChunk, 48), v128.load(a, 48));
  const mx = f32x4.max(f32x4.max(f32x4.abs(s0), f32x4.abs(s1)), f32x4.max(f32x4.abs(s2), f32x4.abs(s3)));
  const big: f32 = max(
    max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)),
    max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)),
  );
  if (!isFinite<f32>(big)) return false; // f32x4.max and max propagate NaN
  const inv = f32x4.splat(big > 0 ? <f32>16383 / big : 0);
  store<f32>(multiplier, big > 0 ? (big / <f32>16383) * unit : 0);
  v128.store(pairsOut, i16x8.narrow_i32x4_s(roundedTimes(s0, inv), roundedTimes(s1, inv)));
  v128.store(pairsOut, i16x8.narrow_i32x4_s(roundedTimes(s2, inv), roundedTimes(s3, inv)), 16);
  return true;
}

@inline
function roundedTimes(s: v128, inv: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(s, inv)));
}

/** Codes of rows n and n + 1 interleaved: (row n, row n + 1) int16 pairs for 4 columns. */
@inline
function pairLow(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}

@inline
function pairHigh(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
}

/** sums[k .. k + 15] (permuted) += f * the four i32x4 sums. */
@inline
function flush(sums: usize, e0: v128, e1: v128, o0: v128, o1: v128, f: v128): void {
  v128.store(sums, f32x4.add(v128.load(sums), f32x4.mul(f32x4.convert_i32x4_s(e0), f)));
  v128.store(sums, f32x4.add(v128.load(sums, 16), f32x4.mul(f32x4.convert_i32x4_s(e1), f)), 16);
  v128.store(sums, f32x4.add(v128.load(sums, 32), f32x4.mul(f32x4.convert_i32x4_s(o0), f)), 32);
  v128.store(sums, f32x4.add(v128.load(sums, 48), f32x4.mul(f32x4.convert_i32x4_s(o1), f)), 48);
}

/**
 * One row of dy: for each 16 columns, each pair of W rows is decoded (8 bytes of each in one vector, so one
 * swizzle per table serves both rows) and multiplied straight away; four i32 sums stay in registers.
 */
function accumulateOneRow(n0: i32, count: i32, tables: usize, pairs: usize, multipliers: usize, sums: usize): void {
  const tl = v128.load(tables);
  const th = v128.load(tables, 16);
  const mask = i8x16.splat(0x0f);
  const K = gK;
  const rowBytes = <usize>K >> 1;
  const chunk = gPacked + <usize>n0 * rowBytes;
  const used = (count + 1) >> 1;
  // An odd last row pairs with itself (its s16 partner is 0): never read past the weight.
  const lastSecond: usize = count & 1 ? 0 : rowBytes;
  for (let k = 0; k < K; k += 16) {
    const g = k >> 6;
    let p = chunk + (<usize>k >> 1);
    let s = pairs + (<usize>(g * PAIRS) << 2);
    let e0 = i32x4.splat(0);
    let e1 = i32x4.splat(0);
    let o0 = i32x4.splat(0);
    let o1 = i32x4.splat(0);
    for (let pp = 0; pp < used; pp++) {
      const second = pp == used - 1 ? lastSecond : rowBytes;
      const bytes = v128.load64_lane(p + second, v128.load64_zero(p), 1);
      const sv = v128.load32_splat(s);
      const hi = highNibbles(bytes, mask);
      let l = lookup(tl, hi);
      let h = lookup(th, hi);
      let first = codesFirst(l, h); // row n: columns k, k + 2, .., k + 14
      let next = codesLast(l, h); // row n + 1: the same columns
      e0 = i32x4.add(e0, i32x4.dot_i16x8_s(pairLow(first, next), sv));
      e1 = i32x4.add(e1, i32x4.dot_i16x8_s(pairHigh(first, next), sv));
      const lo = lowNibbles(bytes, mask);
      l = lookup(tl, lo);
      h = lookup(th, lo);
      first = codesFirst(l, h); // columns k + 1, k + 3, .., k + 15
      next = codesLast(l, h);
      o0 = i32x4.add(o0, i32x4.dot_i16x8_s(pairLow(first, next), sv));
      o1 = i32x4.add(o1, i32x4.dot_i16x8_s(pairHigh(first, next), sv));
      p += rowBytes << 1;
      s += 4;
    }
    flush(sums + (<usize>k << 2), e0, e1, o0, o1, v128.load32_splat(multipliers + (<usize>g << 2)));
  }
}

/** Several rows of dy: each 16 columns of the chunk are decoded once into pairCodes, then every row runs over them. */
function accumulateRows(
  n0: i32,
  count: i32,
  rows: i32,
  tables: usize,
  pairs: usize,
  multipliers: usize,
  pairCodes: usize,
  sums: usize,
): void {
  const tl = v128.load(tables);
  const th = v128.load(tables, 16);
  const mask = i8x16.splat(0x0f);
  const K = gK;
  const groups = K >> 6;
  const rowBytes = <usize>K >> 1;
  const chunk = gPacked + <usize>n0 * rowBytes;
  const used = (count + 1) >> 1;
  const lastSecond: usize = count & 1 ? 0 : rowBytes;
  for (let k = 0; k < K; k += 16) {
    let p = chunk + (<usize>k >> 1);
    for (let pp = 0; pp < used; pp++) {
      const second = pp == used - 1 ? lastSecond : rowBytes;
      const bytes = v128.load64_lane(p + second, v128.load64_zero(p), 1);
      const hi = highNibbles(bytes, mask);
      let l = lookup(tl, hi);
      let h = lookup(th, hi);
      const d = pairCodes + (<usize>pp << 6);
      v128.store(d, pairLow(codesFirst(l, h), codesLast(l, h)));
      v128.store(d, pairHigh(codesFirst(l, h), codesLast(l, h)), 16);
      const lo = lowNibbles(bytes, mask);
      l = lookup(tl, lo);
      h = lookup(th, lo);
      v128.store(d, pairLow(codesFirst(l, h), codesLast(l, h)), 32);
      v128.store(d, pairHigh(codesFirst(l, h), codesLast(l, h)), 48);
      p += rowBytes << 1;
    }
    const g = k >> 6;
    const rowPairs = <usize>(groups * PAIRS) << 2; // from one dy row's pairs to the next's
    // Two rows of dy at a time: each vector of codes loaded feeds both rows' products. Each row's integer sums are
    // the same as alone, so the result does not depend on the pairing. An odd last row pairs with itself; the
    // duplicate's sums are dropped.
    for (let m = 0; m < rows; m += 2) {
      const next: usize = m + 1 < rows ? rowPairs : 0;
      let e0 = i32x4.splat(0);
      let e1 = i32x4.splat(0);
      let o0 = i32x4.splat(0);
      let o1 = i32x4.splat(0);
      let f0 = i32x4.splat(0);
      let f1 = i32x4.splat(0);
      let q0 = i32x4.splat(0);
      let q1 = i32x4.splat(0);
      let s = pairs + (<usize>((m * groups + g) * PAIRS) << 2);
      let d = pairCodes;
      for (let pp = 0; pp < used; pp++) {
        const sv = v128.load32_splat(s);
        const tv = v128.load32_splat(s + next);
        const c0 = v128.load(d);
        const c1 = v128.load(d, 16);
        const c2 = v128.load(d, 32);
        const c3 = v128.load(d, 48);
        e0 = i32x4.add(e0, i32x4.dot_i16x8_s(c0, sv));
        e1 = i32x4.add(e1, i32x4.dot_i16x8_s(c1, sv));
        o0 = i32x4.add(o0, i32x4.dot_i16x8_s(c2, sv));
        o1 = i32x4.add(o1, i32x4.dot_i16x8_s(c3, sv));
        f0 = i32x4.add(f0, i32x4.dot_i16x8_s(c0, tv));
        f1 = i32x4.add(f1, i32x4.dot_i16x8_s(c1, tv));
        q0 = i32x4.add(q0, i32x4.dot_i16x8_s(c2, tv));
        q1 = i32x4.add(q1, i32x4.dot_i16x8_s(c3, tv));
        s += 4;
        d += 64;
      }
      const scale = multipliers + (<usize>(m * groups + g) << 2);
      const out = sums + ((<usize>m * <usize>K + <usize>k) << 2);
      flush(out, e0, e1, o0, o1, v128.load32_splat(scale));
      if (next != 0) flush(out + (<usize>K << 2), f0, f1, q0, q1, v128.load32_splat(scale + (<usize>groups << 2)));
    }
  }
}

/** dx (per 16 columns: even columns 0..14, then odd 1..15) -> column order, in place. */
export function unpermuteSums(dx: usize, count: i32): void {
  const end = dx + (<usize>count << 2);
  for (let d = dx; d < end; d += 64) {
    const e0 = v128.load(d);
    const e1 = v128.load(d, 16);
    const o0 = v128.load(d, 32);
    const o1 = v128.load(d, 48);
    v128.store(d, i32x4.shuffle(e0, o0, 0, 4, 1, 5));
    v128.store(d, i32x4.shuffle(e0, o0, 2, 6, 3, 7), 16);
    v128.store(d, i32x4.shuffle(e1, o1, 0, 4, 1, 5), 32);
    v128.store(d, i32x4.shuffle(e1, o1, 2, 6, 3, 7), 48);
  }
}
