// The float32 kernels: exact dequantization (bit for bit f32(code[q] * A_b)), x·Wᵀ for any shape, and dy·W.

import { blockScale, codeOf, gBlocksizeLog2, gK, gN, gPacked } from './weights';

/**
 * out[i] = W[start + i] for i < end - start, exactly f32(code[q] * A_b). `pairTable` holds, for each byte value
 * v, the two floats (code[v >> 4], code[v & 15]) (256 x 8 bytes), so two bytes give four codes with two loads.
 */
export function dequantizeRange(start: i32, end: i32, pairTable: usize, out: usize): void {
  decodeRange(start, end, pairTable, out, 1, false); // 1 * A_b is A_b exactly
}

/**
 * out[i] += g * W[start + i] for i < end - start: the one-row gradient step, decoding straight into the
 * accumulation (each code times g * A_b) instead of through a row buffer.
 */
function accumulateRange(start: i32, end: i32, pairTable: usize, out: usize, g: f32): void {
  decodeRange(start, end, pairTable, out, g, true);
}

/**
 * Each code of W[start .. end) times g * A_b, stored to out (or added to it when `accumulate`): the decode both
 * ranges above share. Inlined with a constant `accumulate`, so each caller keeps only its own branch.
 */
@inline
function decodeRange(start: i32, end: i32, pairTable: usize, out: usize, g: f32, accumulate: bool): void {
  let e = start;
  let dst = out;
  const bsLog2 = gBlocksizeLog2;
  while (e < end) {
    const b = e >> bsLog2;
    const scale = g * blockScale(b);
    const segmentEnd = min(end, (b + 1) << bsLog2);
    while (e < segmentEnd && (e & 3) != 0) {
      const value = codeOf(e) * scale;
      store<f32>(dst, accumulate ? load<f32>(dst) + value : value);
      e++;
      dst += 4;
    }
    const sv = f32x4.splat(scale);
    let src = gPacked + (<usize>e >> 1);
    while (e + 8 <= segmentEnd) {
      const word = <usize>load<u32>(src);
      let v = v128.load64_zero(pairTable + ((word & 255) << 3));
      v = v128.load64_lane(pairTable + (((word >> 8) & 255) << 3), v, 1);
      let w = v128.load64_zero(pairTable + (((word >> 16) & 255) << 3));
      w = v128.load64_lane(pairTable + ((word >> 24) << 3), w, 1);
      v = f32x4.mul(v, sv);
      w = f32x4.mul(w, sv);
      v128.store(dst, accumulate ? f32x4.add(v128.load(dst), v) : v);
      v128.store(dst, accumulate ? f32x4.add(v128.load(dst, 16), w) : w, 16);
      src += 4;
      e += 8;
      dst += 32;
    }
    while (e < segmentEnd) {
      const value = codeOf(e) * scale;
      store<f32>(dst, accumulate ? load<f32>(dst) + value : value);
      e++;
      dst += 4;
    }
  }
}

@inline function dotF32(a: usize, b: usize, len: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  acc0 = f32x4.add(acc0, acc1);
  let s: f32 = f32x4.extract_lane(acc0, 0) + f32x4.extract_lane(acc0, 1) + (f32x4.extract_lane(acc0, 2) + f32x4.extract_lane(acc0, 3));
  for (; i < len; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * y[m, n] = sum_k x[m, k] W[n, k] in float32 for any shape: each row of W is dequantized exactly into `rowBuf`
 * (K floats, stays in L1) and dotted with every row of x. Nothing dense outlives the call.
 */
export function matmulExact(x: usize, rows: i32, y: usize, rowBuf: usize, pairTable: usize): void {
  const N = gN;
  const K = gK;
  const xRowBytes = <usize>K << 2;
  for (let n = 0; n < N; n++) {
    dequantizeRange(n * K, n * K + K, pairTable, rowBuf);
    for (let m = 0; m < rows; m++) {
      store<f32>(y + ((<usize>m * <usize>N + <usize>n) << 2), dotF32(x + <usize>m * xRowBytes, rowBuf, K));
    }
  }
}

/** dx[m, k] = sum_n dy[m, n] W[n, k]: row n of W dequantized into `rowBuf`, then dx[m, :] += dy[m, n] * row. */
export function matmulTransposed(dy: usize, rows: i32, dx: usize, rowBuf: usize, pairTable: usize): void {
  const N = gN;
  const K = gK;
  const dxRowBytes = <usize>K << 2;
  memory.fill(dx, 0, <usize>rows * dxRowBytes);
  if (rows == 1) {
    for (let n = 0; n < N; n++) {
      const g = load<f32>(dy + (<usize>n << 2));
      if (g != 0) accumulateRange(n * K, n * K + K, pairTable, dx, g);
    }
    return;
  }
  for (let n = 0; n < N; n++) {
    dequantizeRange(n * K, n * K + K, pairTable, rowBuf);
    for (let m = 0; m < rows; m++) {
      const g = load<f32>(dy + ((<usize>m * <usize>N + <usize>n) << 2));
      if (g == 0) continue;
      const gv = f32x4.splat(g);
      const out = dx + <usize>m * dxRowBytes;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(gv, v128.load(rowBuf + o))));
      }
      for (; k < K; k++) {
        const o = <usize>k << 2;
        store<f32>(out + o, load<f32>(out + o) + g * load<f32>(rowBuf + o));
      }
    }
  }
}
