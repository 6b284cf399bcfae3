// The fixed-point x·Wᵀ for one row of x (decoding, token by token): every weight is used once, so the kernel is
// the decode itself, 64 weights per step, with no other work in that loop. Each group's four i32 partial sums go
// to scratch; a second, short pass scales them (A_b * activation scale) and adds them up.

import { dotGroup, horizontalSum, totals4 } from './fixed16-codes';
import { rowGroupScales } from './fixed16-scales';
import { gK, gPacked } from './weights';

/** Scratch bytes matvecFixed16 needs: the partial sums (16 bytes per group) and a row of group scales. */
export function matvecWorkBytes(K: i32): i32 {
  const groups = K >> 6;
  return (groups << 4) + (groups << 2);
}

/** y[n] for rows n in [nStart, nEnd) of W (threads split W by rows; each row's sum is the same whoever runs it). */
export function matvecFixed16(
  x16: usize,
  xScales: usize,
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
  const rowBytes = <usize>K >> 1;
  const sums = work;
  const sumsEnd = sums + (<usize>groups << 4);
  const pairsEnd = sums + (<usize>(groups & ~1) << 4);
  const rowScales = sumsEnd;
  const mask = i8x16.splat(0x0f);
  for (let n = nStart; n < nEnd; n++) {
    let p = gPacked + <usize>n * rowBytes;
    let x = x16;
    let s = sums;
    // Two groups per step: fewer loop overheads, and still no register spills.
    while (s < pairsEnd) {
      v128.store(s, dotGroup(p, x, tl, th, mask));
      v128.store(s, dotGroup(p + 32, x + 128, tl, th, mask), 16);
      p += 64;
      x += 256;
      s += 32;
    }
    if (s < sumsEnd) v128.store(s, dotGroup(p, x, tl, th, mask));
    store<f32>(y + (<usize>n << 2), scaledTotal(sums, rowGroupScales(n, rowScales), xScales, groups));
  }
}

/** sum over groups g of (total of sums[g]) * a[g] * xs[g]. */
function scaledTotal(sums: usize, a: usize, xs: usize, groups: i32): f32 {
  let t = f32x4.splat(0);
  let g = 0;
  for (; g + 4 <= groups; g += 4) {
    const s = sums + (<usize>g << 4);
    const o = <usize>g << 2;
    const scale = f32x4.mul(v128.load(a + o), v128.load(xs + o));
    t = f32x4.add(t, f32x4.mul(totals4(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48)), scale));
  }
  let total = horizontalSum(t);
  for (; g < groups; g++) {
    const o = <usize>g << 2;
    const partial = horizontalSum(f32x4.convert_i32x4_s(v128.load(sums + (<usize>g << 4))));
    total += partial * (load<f32>(a + o) * load<f32>(xs + o));
  }
  return total;
}
