// Block scales A_b per 64-element group for the fixed-point kernels (blocksize >= 64: a group lies in one block).

import {
  blockScale,
  gAbsmax,
  gBlocksizeLog2,
  gK,
  gNested,
  gNestedAbsmax,
  gNestedBlocksize,
  gNestedCode,
  gOffset,
} from './weights';

/**
 * A_b of each group of row n, in group order. Returns where they are: absmax itself when it already is that
 * array (plain scales, blocksize 64), else `out` (K / 64 floats).
 */
export function rowGroupScales(n: i32, out: usize): usize {
  const groups = gK >> 6;
  const bsLog2 = gBlocksizeLog2;
  const first = (n * gK) >> bsLog2;
  if (bsLog2 == 6) {
    if (gNested == 0) return gAbsmax + (<usize>first << 2);
    nestedScales(first, first + groups, out);
    return out;
  }
  const base = n * gK;
  let prev = -1;
  let a: f32 = 0;
  for (let g = 0; g < groups; g++) {
    const block = (base + (g << 6)) >> bsLog2;
    if (block != prev) {
      a = blockScale(block);
      prev = block;
    }
    store<f32>(out + (<usize>g << 2), a);
  }
  return out;
}

/**
 * A_b for double-quantized blocks first .. end - 1 into out: f32(f32(nestedCode[q_b] * nestedAbsmax[b / nbs]) +
 * offset), as blockScale, four blocks per step (the nestedCode lookups as lane loads).
 */
function nestedScales(first: i32, end: i32, out: usize): void {
  const nbs = gNestedBlocksize;
  const nc = gNestedCode;
  const offset = gOffset;
  const offsets = f32x4.splat(offset);
  let b = first;
  let o = out;
  while (b < end) {
    const nested = b / nbs;
    const na = load<f32>(gNestedAbsmax + (<usize>nested << 2));
    const nas = f32x4.splat(na);
    const runEnd = min(end, (nested + 1) * nbs);
    for (; b + 4 <= runEnd; b += 4) {
      const q = <usize>load<u32>(gAbsmax + <usize>b);
      let c = v128.load32_zero(nc + ((q & 255) << 2));
      c = v128.load32_lane(nc + (((q >> 8) & 255) << 2), c, 1);
      c = v128.load32_lane(nc + (((q >> 16) & 255) << 2), c, 2);
      c = v128.load32_lane(nc + ((q >> 24) << 2), c, 3);
      v128.store(o, f32x4.add(f32x4.mul(c, nas), offsets));
      o += 16;
    }
    for (; b < runEnd; b++) {
      store<f32>(o, load<f32>(nc + (<usize>load<u8>(gAbsmax + <usize>b) << 2)) * na + offset);
      o += 4;
    }
  }
}

/** A_b of group g in rows n .. n + count - 1 (count <= 4), one per lane, 0 in lanes past count. */
export function tileGroupScales(n: i32, count: i32, g: i32): v128 {
  const K = gK;
  const bsLog2 = gBlocksizeLog2;
  const e = n * K + (g << 6);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, blockScale(e >> bsLog2));
  if (count > 1) v = f32x4.replace_lane(v, 1, blockScale((e + K) >> bsLog2));
  if (count > 2) v = f32x4.replace_lane(v, 2, blockScale((e + 2 * K) >> bsLog2));
  if (count > 3) v = f32x4.replace_lane(v, 3, blockScale((e + 3 * K) >> bsLog2));
  return v;
}
