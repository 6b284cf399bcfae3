// AssemblyScript source of the wasm SIMD kernels behind the bnb4 ops on the TensorFlow.js wasm backend.
// Build: `pnpm --filter @peft/backends build:wasm` (scripts/build-wasm.mjs), which writes assets/bnb4-simd.wasm
// and src/kernels/wasm-module/bnb4-simd.generated.ts.
//
// The module imports TensorFlow.js' own WebAssembly.Memory, so kernels read the weights and activations where
// tfjs keeps them and write straight into the output tensor: no copies. It therefore must never touch memory it
// was not handed: no allocation (stub runtime, never called), no data segments (no string literals, no static
// arrays; the build script checks), every pointer comes from the caller (allocated with tfjs' own malloc).
//
// Element e of the logical weight W [N, K] (row-major, flat index e = n*K + k) is nibble (e & 1 ? low : high) of
// byte e >> 1, and belongs to scale block e >> blocksizeLog2.

// ---- the bound weight (set by bindWeights before each kernel call) ----------------------------------------
let gPacked: usize = 0;
let gAbsmax: usize = 0; // f32[nb], or u8 codes when nested
let gNested: i32 = 0;
let gNestedAbsmax: usize = 0; // f32[ceil(nb / nestedBlocksize)]
let gNestedCode: usize = 0; // f32[256]
let gNestedBlocksize: i32 = 256;
let gOffset: f32 = 0;
let gCode: usize = 0; // f32[16]
let gBlocksizeLog2: i32 = 6;
let gN: i32 = 0;
let gK: i32 = 0;

export function bindWeights(
  packed: usize,
  absmax: usize,
  nested: i32,
  nestedAbsmax: usize,
  nestedCode: usize,
  nestedBlocksize: i32,
  offset: f32,
  code: usize,
  blocksizeLog2: i32,
  outFeatures: i32,
  inFeatures: i32,
): void {
  gPacked = packed;
  gAbsmax = absmax;
  gNested = nested;
  gNestedAbsmax = nestedAbsmax;
  gNestedCode = nestedCode;
  gNestedBlocksize = nestedBlocksize;
  gOffset = offset;
  gCode = code;
  gBlocksizeLog2 = blocksizeLog2;
  gN = outFeatures;
  gK = inFeatures;
}

/** A_b: absmax[b], or f32(f32(nestedCode[q8[b]] * nestedAbsmax[b / nbs]) + offset) when double quantized. */
@inline function blockScale(b: i32): f32 {
  if (gNested == 0) return load<f32>(gAbsmax + (<usize>b << 2));
  const q = <usize>load<u8>(gAbsmax + <usize>b);
  const scaled: f32 = load<f32>(gNestedCode + (q << 2)) * load<f32>(gNestedAbsmax + (<usize>(b / gNestedBlocksize) << 2));
  return scaled + gOffset;
}

@inline function codeOf(e: i32): f32 {
  const byte = <u32>load<u8>(gPacked + (<usize>e >> 1));
  const q = e & 1 ? byte & 15 : byte >> 4;
  return load<f32>(gCode + (<usize>q << 2));
}

// ---- exact dequantization of a flat range ----------------------------------------------------------------

/**
 * out[i] = W[start + i] for i < end - start, exactly f32(code[q] * A_b). `pairTable` holds, for each byte value
 * v, the two floats (code[v >> 4], code[v & 15]) (256 x 8 bytes), so two bytes give four codes with two loads.
 */
export function dequantizeRange(start: i32, end: i32, pairTable: usize, out: usize): void {
  let e = start;
  let dst = out;
  const bsLog2 = gBlocksizeLog2;
  while (e < end) {
    const b = e >> bsLog2;
    const a = blockScale(b);
    const segmentEnd = min(end, (b + 1) << bsLog2);
    while (e < segmentEnd && (e & 3) != 0) {
      store<f32>(dst, codeOf(e) * a);
      e++;
      dst += 4;
    }
    const av = f32x4.splat(a);
    let src = gPacked + (<usize>e >> 1);
    while (e + 8 <= segmentEnd) {
      const word = <usize>load<u32>(src);
      let v = v128.load64_zero(pairTable + ((word & 255) << 3));
      v = v128.load64_lane(pairTable + (((word >> 8) & 255) << 3), v, 1);
      let w = v128.load64_zero(pairTable + (((word >> 16) & 255) << 3));
      w = v128.load64_lane(pairTable + ((word >> 24) << 3), w, 1);
      v128.store(dst, f32x4.mul(v, av));
      v128.store(dst, f32x4.mul(w, av), 16);
      src += 4;
      e += 8;
      dst += 32;
    }
    while (e < segmentEnd) {
      store<f32>(dst, codeOf(e) * a);
      e++;
      dst += 4;
    }
  }
}

/**
 * out[i] += g * W[start + i] for i < end - start: the one-row gradient step, decoding straight into the
 * accumulation (each code times g * A_b) instead of through a row buffer.
 */
function accumulateRange(start: i32, end: i32, pairTable: usize, out: usize, g: f32): void {
  let e = start;
  let dst = out;
  const bsLog2 = gBlocksizeLog2;
  while (e < end) {
    const b = e >> bsLog2;
    const ga = g * blockScale(b);
    const segmentEnd = min(end, (b + 1) << bsLog2);
    while (e < segmentEnd && (e & 3) != 0) {
      store<f32>(dst, load<f32>(dst) + codeOf(e) * ga);
      e++;
      dst += 4;
    }
    const gv = f32x4.splat(ga);
    let src = gPacked + (<usize>e >> 1);
    while (e + 8 <= segmentEnd) {
      const word = <usize>load<u32>(src);
      let v = v128.load64_zero(pairTable + ((word & 255) << 3));
      v = v128.load64_lane(pairTable + (((word >> 8) & 255) << 3), v, 1);
      let w = v128.load64_zero(pairTable + (((word >> 16) & 255) << 3));
      w = v128.load64_lane(pairTable + ((word >> 24) << 3), w, 1);
      v128.store(dst, f32x4.add(v128.load(dst), f32x4.mul(v, gv)));
      v128.store(dst, f32x4.add(v128.load(dst, 16), f32x4.mul(w, gv)), 16);
      src += 4;
      e += 8;
      dst += 32;
    }
    while (e < segmentEnd) {
      store<f32>(dst, load<f32>(dst) + codeOf(e) * ga);
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

// ---- the fast fixed-point path ---------------------------------------------------------------------------
//
// Wasm SIMD has no gather and (in Node 20) no FMA, so decoding each nibble to a float costs more than the fp32
// multiply it feeds. Instead codes become 16-bit integers with one `i8x16.swizzle` per byte plane and
// activations are rounded to 16-bit integers, so `i32x4.dot_i16x8_s` does 8 multiply-adds per instruction.
//
// Rounding: codes to code * 8192 / max|code| (|error| <= 2^-14 of the largest code), activations to
// x * 16383 / max|x| over each aligned group of 64 (|error| <= 2^-15 of the group's largest). A 64-element group
// accumulates at most 16 products of |8192 * 16383| per i32 lane: 2,147,352,576 < 2^31, so the integer sums
// cannot overflow; each group's sum is scaled back to float32 (A_b * scale_x) before the next.
//
// Activations are stored permuted within each group of 32 so that the high and low nibbles of 16 packed bytes
// line up with them without shuffling: [x0, x2, .., x14 | x16, .., x30 | x1, .., x15 | x17, .., x31].

/**
 * Rounds rows of x [rows, K] (K % 64 == 0) to the permuted int16 layout at `x16` and writes one float scale per
 * group of 64 to `scales` (already multiplied by `codeScale`). Returns 1 if any value is NaN or infinite (the
 * caller then takes the exact path), else 0.
 */
export function quantizeActivations(x: usize, rows: i32, K: i32, x16: usize, scales: usize, codeScale: f32): i32 {
  const groups = K >> 6;
  for (let m = 0; m < rows; m++) {
    for (let g = 0; g < groups; g++) {
      const src = x + ((<usize>m * <usize>K + (<usize>g << 6)) << 2);
      let mx = f32x4.splat(0);
      for (let i = 0; i < 64; i += 4) mx = f32x4.max(mx, f32x4.abs(v128.load(src + (<usize>i << 2))));
      const big: f32 = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
      if (!isFinite<f32>(big)) return 1;
      const inv: f32 = big > 0 ? <f32>16383 / big : 0;
      store<f32>(scales + ((<usize>m * <usize>groups + <usize>g) << 2), big > 0 ? (big / <f32>16383) * codeScale : 0);
      const dst = x16 + ((<usize>m * <usize>K + (<usize>g << 6)) << 1);
      for (let half = 0; half < 2; half++) {
        const s = src + (<usize>half << 7);
        const d = dst + (<usize>half << 6);
        for (let j = 0; j < 16; j++) {
          store<i16>(d + (<usize>j << 1), <i16>nearest<f32>(load<f32>(s + (<usize>(2 * j) << 2)) * inv));
          store<i16>(d + (<usize>(16 + j) << 1), <i16>nearest<f32>(load<f32>(s + (<usize>(2 * j + 1) << 2)) * inv));
        }
      }
    }
  }
  return 0;
}

// Splits 16 packed bytes into the codes of their even (high nibble) and odd (low nibble) elements.
@inline function highNibbles(v: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), i8x16.splat(0x0f));
}
@inline function lowNibbles(v: v128): v128 {
  return v128.and(v, i8x16.splat(0x0f));
}
// int16 codes of 16 nibbles: first 8 and last 8, from the low-byte and high-byte tables.
@inline function codesLow(q: v128, tl: v128, th: v128): v128 {
  return i8x16.shuffle(i8x16.swizzle(tl, q), i8x16.swizzle(th, q), 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
@inline function codesHigh(q: v128, tl: v128, th: v128): v128 {
  return i8x16.shuffle(i8x16.swizzle(tl, q), i8x16.swizzle(th, q), 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

@inline function dot32(bytes: v128, tl: v128, th: v128, x: usize, acc: v128): v128 {
  const hi = highNibbles(bytes);
  const lo = lowNibbles(bytes);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(codesLow(hi, tl, th), v128.load(x)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(codesHigh(hi, tl, th), v128.load(x, 16)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(codesLow(lo, tl, th), v128.load(x, 32)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(codesHigh(lo, tl, th), v128.load(x, 48)));
  return acc;
}

// 32 activations (permuted layout) against their four decoded code vectors.
@inline function dot4(c0: v128, c1: v128, c2: v128, c3: v128, x: usize, acc: v128): v128 {
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(c0, v128.load(x)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(c1, v128.load(x, 16)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(c2, v128.load(x, 32)));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(c3, v128.load(x, 48)));
  return acc;
}

@inline function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * y [rows, N] = x·Wᵀ from activations prepared by quantizeActivations. Requires K % 64 == 0 and
 * blocksize >= 64 (so a 64-group never straddles two scale blocks). `tables` holds the 16 low bytes then the
 * 16 high bytes of the int16 codes.
 */
export function matmulFixed16(x16: usize, scales: usize, rows: i32, tables: usize, y: usize): void {
  const tl = v128.load(tables);
  const th = v128.load(tables, 16);
  const N = gN;
  const K = gK;
  const groups = K >> 6;
  const rowBytes = <usize>K >> 1;
  const x16Row = <usize>K << 1;
  const scaleRow = <usize>groups << 2;
  const bsLog2 = gBlocksizeLog2;
  let m = 0;
  for (; m + 4 <= rows; m += 4) {
    // Four rows of x share each decoded run of codes: decoding costs as much as the dot products it feeds.
    const xa = x16 + <usize>m * x16Row;
    const sa = scales + <usize>m * scaleRow;
    for (let n = 0; n < N; n++) {
      let t0 = f32x4.splat(0);
      let t1 = f32x4.splat(0);
      let t2 = f32x4.splat(0);
      let t3 = f32x4.splat(0);
      const base = n * K;
      let p = gPacked + <usize>n * rowBytes;
      let prevBlock = -1;
      let a: f32 = 0;
      for (let g = 0; g < groups; g++) {
        const block = (base + (g << 6)) >> bsLog2;
        if (block != prevBlock) {
          a = blockScale(block);
          prevBlock = block;
        }
        let acc0 = i32x4.splat(0);
        let acc1 = i32x4.splat(0);
        let acc2 = i32x4.splat(0);
        let acc3 = i32x4.splat(0);
        for (let half: usize = 0; half < 2; half++) {
          const bytes = v128.load(p + (half << 4));
          const hi = highNibbles(bytes);
          const lo = lowNibbles(bytes);
          const c0 = codesLow(hi, tl, th);
          const c1 = codesHigh(hi, tl, th);
          const c2 = codesLow(lo, tl, th);
          const c3 = codesHigh(lo, tl, th);
          const xo = xa + (<usize>g << 7) + (half << 6);
          acc0 = dot4(c0, c1, c2, c3, xo, acc0);
          acc1 = dot4(c0, c1, c2, c3, xo + x16Row, acc1);
          acc2 = dot4(c0, c1, c2, c3, xo + 2 * x16Row, acc2);
          acc3 = dot4(c0, c1, c2, c3, xo + 3 * x16Row, acc3);
        }
        const so = <usize>g << 2;
        t0 = f32x4.add(t0, f32x4.mul(f32x4.convert_i32x4_s(acc0), f32x4.splat(a * load<f32>(sa + so))));
        t1 = f32x4.add(t1, f32x4.mul(f32x4.convert_i32x4_s(acc1), f32x4.splat(a * load<f32>(sa + scaleRow + so))));
        t2 = f32x4.add(t2, f32x4.mul(f32x4.convert_i32x4_s(acc2), f32x4.splat(a * load<f32>(sa + 2 * scaleRow + so))));
        t3 = f32x4.add(t3, f32x4.mul(f32x4.convert_i32x4_s(acc3), f32x4.splat(a * load<f32>(sa + 3 * scaleRow + so))));
        p += 32;
      }
      const yo = y + ((<usize>m * <usize>N + <usize>n) << 2);
      const yRow = <usize>N << 2;
      store<f32>(yo, horizontalSum(t0));
      store<f32>(yo + yRow, horizontalSum(t1));
      store<f32>(yo + 2 * yRow, horizontalSum(t2));
      store<f32>(yo + 3 * yRow, horizontalSum(t3));
    }
  }
  for (; m < rows; m++) {
    const xa = x16 + <usize>m * x16Row;
    const sa = scales + <usize>m * scaleRow;
    for (let n = 0; n < N; n++) {
      let t = f32x4.splat(0);
      const base = n * K;
      let p = gPacked + <usize>n * rowBytes;
      let prevBlock = -1;
      let a: f32 = 0;
      for (let g = 0; g < groups; g++) {
        const block = (base + (g << 6)) >> bsLog2;
        if (block != prevBlock) {
          a = blockScale(block);
          prevBlock = block;
        }
        const xo = <usize>g << 7;
        let acc = dot32(v128.load(p), tl, th, xa + xo, i32x4.splat(0));
        acc = dot32(v128.load(p, 16), tl, th, xa + xo + 64, acc);
        t = f32x4.add(t, f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.splat(a * load<f32>(sa + (<usize>g << 2)))));
        p += 32;
      }
      store<f32>(y + ((<usize>m * <usize>N + <usize>n) << 2), horizontalSum(t));
    }
  }
}
