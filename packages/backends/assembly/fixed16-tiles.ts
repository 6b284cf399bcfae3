// The fixed-point x·Wᵀ for several rows of x (prefill, training): decoding is shared. Per 64-element group, four
// rows of W are decoded into int16 codes in scratch (L1), then every pair of x rows runs over them with eight i32
// accumulators in registers (4 W rows x 2 x rows: six loads feed sixteen multiply-adds). Each group's sums, scaled,
// go into one float4 per x row whose lanes are the four W rows, so y needs no horizontal sums.

import { codesFirst, codesLast, highNibbles, lowNibbles, totals4 } from './fixed16-codes';
import { tileGroupScales } from './fixed16-scales';
import { gK, gN, gPacked } from './weights';
import { lookup } from './lookup';

const TILE_ROWS: i32 = 4; // rows of W decoded together
const ROW_BLOCK: i32 = 32; // rows of x (up to 32 * K * 2 bytes) kept in cache while all of W passes over them

/** Scratch bytes matmulTiles needs: the decoded codes and a float4 of totals per x row of a block. */
export function tilesWorkBytes(rows: i32): i32 {
  return (TILE_ROWS << 7) + (min(rows, ROW_BLOCK) << 4);
}

/** y[m, n] for every row m of x and rows n in [nStart, nEnd) of W; a row's result does not depend on the range. */
export function matmulTiles(
  x16: usize,
  xScales: usize,
  rows: i32,
  tables: usize,
  y: usize,
  work: usize,
  nStart: i32,
  nEnd: i32,
): void {
  const tl = v128.load(tables);
  const th = v128.load(tables, 16);
  const K = gK;
  const groups = K >> 6;
  const x16Row = <usize>K << 1;
  const scaleRow = <usize>groups << 2;
  const codes = work;
  const totals = work + (<usize>TILE_ROWS << 7);
  for (let m0 = 0; m0 < rows; m0 += ROW_BLOCK) {
    const mEnd = min(rows, m0 + ROW_BLOCK);
    for (let n = nStart; n < nEnd; n += TILE_ROWS) {
      const count = min(TILE_ROWS, nEnd - n);
      // Rows past N stay zero codes: their sums are zero and never stored.
      if (count < TILE_ROWS) memory.fill(codes, 0, <usize>TILE_ROWS << 7);
      memory.fill(totals, 0, <usize>(mEnd - m0) << 4);
      for (let g = 0; g < groups; g++) {
        decodeGroup(n, count, g, tl, th, codes);
        const a = tileGroupScales(n, count, g);
        const xo = <usize>g << 7;
        const so = <usize>g << 2;
        for (let m = m0; m < mEnd; m += 2) {
          // An odd last row pairs with itself; the duplicate's sums are dropped.
          const second = min(m + 1, mEnd - 1);
          const xa = x16 + <usize>m * x16Row + xo;
          const xb = x16 + <usize>second * x16Row + xo;
          let a0 = i32x4.splat(0);
          let a1 = i32x4.splat(0);
          let a2 = i32x4.splat(0);
          let a3 = i32x4.splat(0);
          let b0 = i32x4.splat(0);
          let b1 = i32x4.splat(0);
          let b2 = i32x4.splat(0);
          let b3 = i32x4.splat(0);
          for (let j: usize = 0; j < 128; j += 16) {
            const va = v128.load(xa + j);
            const vb = v128.load(xb + j);
            const c0 = v128.load(codes + j);
            const c1 = v128.load(codes + 128 + j);
            const c2 = v128.load(codes + 256 + j);
            const c3 = v128.load(codes + 384 + j);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(c0, va));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(c1, va));
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(c2, va));
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(c3, va));
            b0 = i32x4.add(b0, i32x4.dot_i16x8_s(c0, vb));
            b1 = i32x4.add(b1, i32x4.dot_i16x8_s(c1, vb));
            b2 = i32x4.add(b2, i32x4.dot_i16x8_s(c2, vb));
            b3 = i32x4.add(b3, i32x4.dot_i16x8_s(c3, vb));
          }
          const t = totals + (<usize>(m - m0) << 4);
          const sa = f32x4.mul(a, v128.load32_splat(xScales + <usize>m * scaleRow + so));
          v128.store(t, f32x4.add(v128.load(t), f32x4.mul(totals4(a0, a1, a2, a3), sa)));
          if (second != m) {
            const sb = f32x4.mul(a, v128.load32_splat(xScales + <usize>second * scaleRow + so));
            v128.store(t, f32x4.add(v128.load(t, 16), f32x4.mul(totals4(b0, b1, b2, b3), sb)), 16);
          }
        }
      }
      for (let m = m0; m < mEnd; m++) storeRow(v128.load(totals + (<usize>(m - m0) << 4)), y, m, n, count);
    }
  }
}

/** Group g of W rows n .. n + count - 1 as int16 codes into `codes`: 128 bytes per row, in x16's order. */
function decodeGroup(n: i32, count: i32, g: i32, tl: v128, th: v128, codes: usize): void {
  const mask = i8x16.splat(0x0f);
  const rowBytes = <usize>gK >> 1;
  let p = gPacked + <usize>n * rowBytes + (<usize>g << 5);
  let c = codes;
  for (let r = 0; r < count; r++) {
    for (let half: usize = 0; half < 32; half += 16) {
      const bytes = v128.load(p + half);
      const hi = highNibbles(bytes, mask);
      const lo = lowNibbles(bytes, mask);
      const hl = lookup(tl, hi);
      const hh = lookup(th, hi);
      const ll = lookup(tl, lo);
      const lh = lookup(th, lo);
      const d = c + (half << 2);
      v128.store(d, codesFirst(hl, hh));
      v128.store(d, codesLast(hl, hh), 16);
      v128.store(d, codesFirst(ll, lh), 32);
      v128.store(d, codesLast(ll, lh), 48);
    }
    p += rowBytes;
    c += 128;
  }
}

/** y[m, n .. n + count - 1] = the first count lanes of t. */
function storeRow(t: v128, y: usize, m: i32, n: i32, count: i32): void {
  const yo = y + ((<usize>m * <usize>gN + <usize>n) << 2);
  store<f32>(yo, f32x4.extract_lane(t, 0));
  if (count > 1) store<f32>(yo, f32x4.extract_lane(t, 1), 4);
  if (count > 2) store<f32>(yo, f32x4.extract_lane(t, 2), 8);
  if (count > 3) store<f32>(yo, f32x4.extract_lane(t, 3), 12);
}
