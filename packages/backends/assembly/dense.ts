// Dense float32 products for TensorFlow.js' BatchMatMul on wasm, 2-D and large: y = x·Wᵀ (denseNT) and
// y = x·W (denseNN), on a range of output columns, so the kernel threads can share one product out.
//
// Why our own and not XNNPACK's: tfjs-backend-wasm runs XNNPACK on one thread in Node, caches a packed copy of
// every right operand for as long as that tensor lives, and takes a scalar loop for any transpose flag. These
// kernels read both operands where they are, need no packed copy, take x·Wᵀ directly, and run on any number of
// threads with the same bytes.
//
// Sum order, fixed by the shapes alone (so the result is the same whoever computes which columns, and however
// the loops are tiled):
// - denseNT: lane j of a 4-lane accumulator sums x[k]·w[k] for k ≡ j (mod 4), k < K & ~3, in increasing k; the
//   lanes then add as (l0 + l1) + (l2 + l3); then the products of the last K % 4 k, in increasing k.
// - denseNN: each y[m, c] is the sum of x[m, k]·W[k, c] in increasing k, from k = 0.
// Every multiply and add rounds to float32 (no fused multiply-add: the relaxed-SIMD build gives the same bytes).

/** Rows of W per block: the block's rows stay in L1/L2 while every row of x runs over them. */
const NT_W_ROWS: i32 = 32;
/** Rows of x per block (re-read once per block of W). */
const NT_X_ROWS: i32 = 64;

@inline
function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** The scalar tail of one dot product (k from K & ~3 to K), added to `s` in increasing k. */
@inline
function tail(s: f32, xr: usize, wr: usize, K4: i32, K: i32): f32 {
  for (let k = K4; k < K; k++) s += load<f32>(xr + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
  return s;
}

/** y[m, n] for 4 rows of x and 2 rows of W. */
@inline
function tile4x2(x: usize, w: usize, y: usize, m: i32, n: i32, K: i32, ldy: i32): void {
  const rowBytes = <usize>K << 2;
  const x0 = x + <usize>m * rowBytes;
  const x1 = x0 + rowBytes;
  const x2 = x1 + rowBytes;
  const x3 = x2 + rowBytes;
  const w0 = w + <usize>n * rowBytes;
  const w1 = w0 + rowBytes;
  let a00 = f32x4.splat(0);
  let a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0);
  let a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0);
  let a31 = f32x4.splat(0);
  const K4 = K & ~3;
  const end = <usize>K4 << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const v0 = v128.load(w0 + o);
    const v1 = v128.load(w1 + o);
    let u = v128.load(x0 + o);
    a00 = f32x4.add(a00, f32x4.mul(u, v0));
    a01 = f32x4.add(a01, f32x4.mul(u, v1));
    u = v128.load(x1 + o);
    a10 = f32x4.add(a10, f32x4.mul(u, v0));
    a11 = f32x4.add(a11, f32x4.mul(u, v1));
    u = v128.load(x2 + o);
    a20 = f32x4.add(a20, f32x4.mul(u, v0));
    a21 = f32x4.add(a21, f32x4.mul(u, v1));
    u = v128.load(x3 + o);
    a30 = f32x4.add(a30, f32x4.mul(u, v0));
    a31 = f32x4.add(a31, f32x4.mul(u, v1));
  }
  const y0 = y + ((<usize>m * <usize>ldy + <usize>n) << 2);
  const yRow = <usize>ldy << 2;
  store<f32>(y0, tail(hsum(a00), x0, w0, K4, K));
  store<f32>(y0 + 4, tail(hsum(a01), x0, w1, K4, K));
  store<f32>(y0 + yRow, tail(hsum(a10), x1, w0, K4, K));
  store<f32>(y0 + yRow + 4, tail(hsum(a11), x1, w1, K4, K));
  store<f32>(y0 + 2 * yRow, tail(hsum(a20), x2, w0, K4, K));
  store<f32>(y0 + 2 * yRow + 4, tail(hsum(a21), x2, w1, K4, K));
  store<f32>(y0 + 3 * yRow, tail(hsum(a30), x3, w0, K4, K));
  store<f32>(y0 + 3 * yRow + 4, tail(hsum(a31), x3, w1, K4, K));
}

/** y[m, n] for one row of x and 4 rows of W (the last rows of x when M % 4 != 0, and every row of a product of one). */
@inline
function tile1x4(x: usize, w: usize, y: usize, m: i32, n: i32, K: i32, ldy: i32): void {
  const rowBytes = <usize>K << 2;
  const xr = x + <usize>m * rowBytes;
  const w0 = w + <usize>n * rowBytes;
  const w1 = w0 + rowBytes;
  const w2 = w1 + rowBytes;
  const w3 = w2 + rowBytes;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  const K4 = K & ~3;
  const end = <usize>K4 << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const u = v128.load(xr + o);
    a0 = f32x4.add(a0, f32x4.mul(u, v128.load(w0 + o)));
    a1 = f32x4.add(a1, f32x4.mul(u, v128.load(w1 + o)));
    a2 = f32x4.add(a2, f32x4.mul(u, v128.load(w2 + o)));
    a3 = f32x4.add(a3, f32x4.mul(u, v128.load(w3 + o)));
  }
  const yr = y + ((<usize>m * <usize>ldy + <usize>n) << 2);
  store<f32>(yr, tail(hsum(a0), xr, w0, K4, K));
  store<f32>(yr + 4, tail(hsum(a1), xr, w1, K4, K));
  store<f32>(yr + 8, tail(hsum(a2), xr, w2, K4, K));
  store<f32>(yr + 12, tail(hsum(a3), xr, w3, K4, K));
}

/** y[m, n] for one row of x and 8 rows of W: more rows of W in flight for the memory-bound products of one row. */
@inline
function tile1x8(x: usize, w: usize, y: usize, m: i32, n: i32, K: i32, ldy: i32): void {
  const rowBytes = <usize>K << 2;
  const xr = x + <usize>m * rowBytes;
  const w0 = w + <usize>n * rowBytes;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0);
  let a5 = f32x4.splat(0);
  let a6 = f32x4.splat(0);
  let a7 = f32x4.splat(0);
  const K4 = K & ~3;
  const end = <usize>K4 << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const u = v128.load(xr + o);
    const p = w0 + o;
    a0 = f32x4.add(a0, f32x4.mul(u, v128.load(p)));
    a1 = f32x4.add(a1, f32x4.mul(u, v128.load(p + rowBytes)));
    a2 = f32x4.add(a2, f32x4.mul(u, v128.load(p + 2 * rowBytes)));
    a3 = f32x4.add(a3, f32x4.mul(u, v128.load(p + 3 * rowBytes)));
    a4 = f32x4.add(a4, f32x4.mul(u, v128.load(p + 4 * rowBytes)));
    a5 = f32x4.add(a5, f32x4.mul(u, v128.load(p + 5 * rowBytes)));
    a6 = f32x4.add(a6, f32x4.mul(u, v128.load(p + 6 * rowBytes)));
    a7 = f32x4.add(a7, f32x4.mul(u, v128.load(p + 7 * rowBytes)));
  }
  const yr = y + ((<usize>m * <usize>ldy + <usize>n) << 2);
  store<f32>(yr, tail(hsum(a0), xr, w0, K4, K));
  store<f32>(yr + 4, tail(hsum(a1), xr, w0 + rowBytes, K4, K));
  store<f32>(yr + 8, tail(hsum(a2), xr, w0 + 2 * rowBytes, K4, K));
  store<f32>(yr + 12, tail(hsum(a3), xr, w0 + 3 * rowBytes, K4, K));
  store<f32>(yr + 16, tail(hsum(a4), xr, w0 + 4 * rowBytes, K4, K));
  store<f32>(yr + 20, tail(hsum(a5), xr, w0 + 5 * rowBytes, K4, K));
  store<f32>(yr + 24, tail(hsum(a6), xr, w0 + 6 * rowBytes, K4, K));
  store<f32>(yr + 28, tail(hsum(a7), xr, w0 + 7 * rowBytes, K4, K));
}

/** y[m, n] for one row of x and one row of W (the edges of a block). */
@inline
function dot1(x: usize, w: usize, y: usize, m: i32, n: i32, K: i32, ldy: i32): void {
  const rowBytes = <usize>K << 2;
  const xr = x + <usize>m * rowBytes;
  const wr = w + <usize>n * rowBytes;
  let a = f32x4.splat(0);
  const K4 = K & ~3;
  const end = <usize>K4 << 2;
  for (let o: usize = 0; o < end; o += 16) a = f32x4.add(a, f32x4.mul(v128.load(xr + o), v128.load(wr + o)));
  store<f32>(y + ((<usize>m * <usize>ldy + <usize>n) << 2), tail(hsum(a), xr, wr, K4, K));
}

/**
 * y[m, n] = Σ_k x[m, k]·W[n, k] for m < M and n0 <= n < n1: x [M, K], W [N, K] (row-major), y [M, ldy] (its
 * columns n0 .. n1 written, the rest untouched).
 */
export function denseNT(x: usize, w: usize, y: usize, M: i32, K: i32, ldy: i32, n0: i32, n1: i32): void {
  for (let nb = n0; nb < n1; nb += NT_W_ROWS) {
    const nEnd = min(n1, nb + NT_W_ROWS);
    const nPairs = nb + ((nEnd - nb) & ~1);
    for (let mb = 0; mb < M; mb += NT_X_ROWS) {
      const mEnd = min(M, mb + NT_X_ROWS);
      const mQuads = mb + ((mEnd - mb) & ~3);
      for (let m = mb; m < mQuads; m += 4) {
        for (let n = nb; n < nPairs; n += 2) tile4x2(x, w, y, m, n, K, ldy);
        for (let n = nPairs; n < nEnd; n++) {
          for (let i = 0; i < 4; i++) dot1(x, w, y, m + i, n, K, ldy);
        }
      }
      const nOcts = nb + ((nEnd - nb) & ~7);
      const nQuads = nb + ((nEnd - nb) & ~3);
      for (let m = mQuads; m < mEnd; m++) {
        for (let n = nb; n < nOcts; n += 8) tile1x8(x, w, y, m, n, K, ldy);
        for (let n = nOcts; n < nQuads; n += 4) tile1x4(x, w, y, m, n, K, ldy);
        for (let n = nQuads; n < nEnd; n++) dot1(x, w, y, m, n, K, ldy);
      }
    }
  }
}

/** Rows of W (k) per block of denseNN: a 16-column panel of that many rows stays in L1. */
const NN_K_ROWS: i32 = 128;
/** Rows of x per block of denseNN. */
const NN_X_ROWS: i32 = 64;

/**
 * 2 rows of y, 16 columns from c: adds Σ_{k in [k0, k1)} x[m, k]·W[k, c..c+16] to y in increasing k (from zero
 * when `first`).
 */
@inline
function panel2x16(x: usize, ldx: i32, w: usize, y: usize, m: i32, c: i32, N: i32, k0: i32, k1: i32, first: bool): void {
  const yr0 = y + ((<usize>m * <usize>N + <usize>c) << 2);
  const yr1 = yr0 + (<usize>N << 2);
  let a0 = first ? f32x4.splat(0) : v128.load(yr0);
  let a1 = first ? f32x4.splat(0) : v128.load(yr0, 16);
  let a2 = first ? f32x4.splat(0) : v128.load(yr0, 32);
  let a3 = first ? f32x4.splat(0) : v128.load(yr0, 48);
  let b0 = first ? f32x4.splat(0) : v128.load(yr1);
  let b1 = first ? f32x4.splat(0) : v128.load(yr1, 16);
  let b2 = first ? f32x4.splat(0) : v128.load(yr1, 32);
  let b3 = first ? f32x4.splat(0) : v128.load(yr1, 48);
  let xr0 = x + ((<usize>m * <usize>ldx + <usize>k0) << 2);
  let xr1 = xr0 + (<usize>ldx << 2);
  let wr = w + ((<usize>k0 * <usize>N + <usize>c) << 2);
  const wStep = <usize>N << 2;
  for (let k = k0; k < k1; k++) {
    const s = f32x4.splat(load<f32>(xr0));
    const t = f32x4.splat(load<f32>(xr1));
    const v0 = v128.load(wr);
    const v1 = v128.load(wr, 16);
    const v2 = v128.load(wr, 32);
    const v3 = v128.load(wr, 48);
    a0 = f32x4.add(a0, f32x4.mul(s, v0));
    a1 = f32x4.add(a1, f32x4.mul(s, v1));
    a2 = f32x4.add(a2, f32x4.mul(s, v2));
    a3 = f32x4.add(a3, f32x4.mul(s, v3));
    b0 = f32x4.add(b0, f32x4.mul(t, v0));
    b1 = f32x4.add(b1, f32x4.mul(t, v1));
    b2 = f32x4.add(b2, f32x4.mul(t, v2));
    b3 = f32x4.add(b3, f32x4.mul(t, v3));
    xr0 += 4;
    xr1 += 4;
    wr += wStep;
  }
  v128.store(yr0, a0);
  v128.store(yr0, a1, 16);
  v128.store(yr0, a2, 32);
  v128.store(yr0, a3, 48);
  v128.store(yr1, b0);
  v128.store(yr1, b1, 16);
  v128.store(yr1, b2, 32);
  v128.store(yr1, b3, 48);
}

/** panel2x16 for one row (the last of an odd M): four independent accumulators, as many as one row has. */
@inline
function panel1x16(x: usize, ldx: i32, w: usize, y: usize, m: i32, c: i32, N: i32, k0: i32, k1: i32, first: bool): void {
  const yr = y + ((<usize>m * <usize>N + <usize>c) << 2);
  let a0 = first ? f32x4.splat(0) : v128.load(yr);
  let a1 = first ? f32x4.splat(0) : v128.load(yr, 16);
  let a2 = first ? f32x4.splat(0) : v128.load(yr, 32);
  let a3 = first ? f32x4.splat(0) : v128.load(yr, 48);
  let xr = x + ((<usize>m * <usize>ldx + <usize>k0) << 2);
  let wr = w + ((<usize>k0 * <usize>N + <usize>c) << 2);
  const wStep = <usize>N << 2;
  for (let k = k0; k < k1; k++) {
    const s = f32x4.splat(load<f32>(xr));
    a0 = f32x4.add(a0, f32x4.mul(s, v128.load(wr)));
    a1 = f32x4.add(a1, f32x4.mul(s, v128.load(wr, 16)));
    a2 = f32x4.add(a2, f32x4.mul(s, v128.load(wr, 32)));
    a3 = f32x4.add(a3, f32x4.mul(s, v128.load(wr, 48)));
    xr += 4;
    wr += wStep;
  }
  v128.store(yr, a0);
  v128.store(yr, a1, 16);
  v128.store(yr, a2, 32);
  v128.store(yr, a3, 48);
}

/** One row of y, columns c .. c + 4 (`width` 4) or c alone (`width` 1): the edges of denseNN. */
@inline
function narrow(x: usize, ldx: i32, w: usize, y: usize, m: i32, c: i32, N: i32, k0: i32, k1: i32, first: bool, width: i32): void {
  const yr = y + ((<usize>m * <usize>N + <usize>c) << 2);
  let xr = x + ((<usize>m * <usize>ldx + <usize>k0) << 2);
  let wr = w + ((<usize>k0 * <usize>N + <usize>c) << 2);
  const wStep = <usize>N << 2;
  if (width == 4) {
    let a = first ? f32x4.splat(0) : v128.load(yr);
    for (let k = k0; k < k1; k++) {
      a = f32x4.add(a, f32x4.mul(f32x4.splat(load<f32>(xr)), v128.load(wr)));
      xr += 4;
      wr += wStep;
    }
    v128.store(yr, a);
  } else {
    let a: f32 = first ? 0 : load<f32>(yr);
    for (let k = k0; k < k1; k++) {
      a += load<f32>(xr) * load<f32>(wr);
      xr += 4;
      wr += wStep;
    }
    store<f32>(yr, a);
  }
}

/**
 * Products of one or two rows read W once, row after row (the panels above would walk it column panel by column
 * panel, a page apart per row: 3x slower at one row): y's row stays in L1 and takes each row of W in turn, which
 * is the same sum in the same order.
 */
const NN_STREAM_MAX_ROWS: i32 = 2;
/** Columns of y per pass of streamNN: their 4 KB stay in L1 while every row of W goes by. */
const NN_STREAM_COLS: i32 = 8192;

function streamNN(x: usize, ldx: i32, w: usize, y: usize, M: i32, K: i32, N: i32, c0: i32, c1: i32, accumulate: bool): void {
  for (let cb = c0; cb < c1; cb += NN_STREAM_COLS) {
    const cEnd = min(c1, cb + NN_STREAM_COLS);
    const wide = cb + ((cEnd - cb) & ~3);
    for (let m = 0; m < M; m++) {
      const yr = y + ((<usize>m * <usize>N) << 2);
      if (!accumulate) {
        for (let c = cb; c < cEnd; c++) store<f32>(yr + (<usize>c << 2), 0);
      }
      // Four rows of W per pass over y's row, added one after another in registers: the same sum in the same
      // order, with a quarter of the traffic through y.
      const K4 = K & ~3;
      const rowBytes = <usize>N << 2;
      for (let k = 0; k < K4; k += 4) {
        const xk = x + ((<usize>m * <usize>ldx + <usize>k) << 2);
        const x0 = load<f32>(xk);
        const x1 = load<f32>(xk, 4);
        const x2 = load<f32>(xk, 8);
        const x3 = load<f32>(xk, 12);
        const s0 = f32x4.splat(x0);
        const s1 = f32x4.splat(x1);
        const s2 = f32x4.splat(x2);
        const s3 = f32x4.splat(x3);
        const w0 = w + <usize>k * rowBytes;
        for (let c = cb; c < wide; c += 4) {
          const o = <usize>c << 2;
          const p = w0 + o;
          let v = v128.load(yr + o);
          v = f32x4.add(v, f32x4.mul(s0, v128.load(p)));
          v = f32x4.add(v, f32x4.mul(s1, v128.load(p + rowBytes)));
          v = f32x4.add(v, f32x4.mul(s2, v128.load(p + 2 * rowBytes)));
          v = f32x4.add(v, f32x4.mul(s3, v128.load(p + 3 * rowBytes)));
          v128.store(yr + o, v);
        }
        for (let c = wide; c < cEnd; c++) {
          const o = <usize>c << 2;
          const p = w0 + o;
          let v = load<f32>(yr + o);
          v += x0 * load<f32>(p);
          v += x1 * load<f32>(p + rowBytes);
          v += x2 * load<f32>(p + 2 * rowBytes);
          v += x3 * load<f32>(p + 3 * rowBytes);
          store<f32>(yr + o, v);
        }
      }
      for (let k = K4; k < K; k++) {
        const xv = load<f32>(x + ((<usize>m * <usize>ldx + <usize>k) << 2));
        const s = f32x4.splat(xv);
        const wr = w + <usize>k * rowBytes;
        for (let c = cb; c < wide; c += 4) {
          const o = <usize>c << 2;
          v128.store(yr + o, f32x4.add(v128.load(yr + o), f32x4.mul(s, v128.load(wr + o))));
        }
        for (let c = wide; c < cEnd; c++) {
          const o = <usize>c << 2;
          store<f32>(yr + o, load<f32>(yr + o) + xv * load<f32>(wr + o));
        }
      }
    }
  }
}

/**
 * y[m, c] = Σ_k x[m, k]·W[k, c] for m < M and c0 <= c < c1: x [M, K] with rows `ldx` floats apart, W [K, N],
 * y [M, N] (columns c0 .. c1 written, the rest untouched). With `accumulate`, the sum continues from y's values
 * (the product of the next rows of W, in increasing k, as if both calls were one), else it starts from zero.
 */
export function denseNN(
  x: usize,
  ldx: i32,
  w: usize,
  y: usize,
  M: i32,
  K: i32,
  N: i32,
  c0: i32,
  c1: i32,
  accumulate: i32,
): void {
  if (M <= NN_STREAM_MAX_ROWS) {
    streamNN(x, ldx, w, y, M, K, N, c0, c1, accumulate != 0);
    return;
  }
  // Blocks of rows of x, so each block's rows stay in cache while every panel of W runs over them (with the rows
  // of x innermost throughout, x would stream from memory once per 16 columns of y).
  for (let mb = 0; mb < M; mb += NN_X_ROWS) {
    const rows = min(NN_X_ROWS, M - mb);
    blockNN(x + ((<usize>mb * <usize>ldx) << 2), ldx, w, y + ((<usize>mb * <usize>N) << 2), rows, K, N, c0, c1, accumulate);
  }
}

/** denseNN for one block of at most NN_X_ROWS rows. */
function blockNN(x: usize, ldx: i32, w: usize, y: usize, M: i32, K: i32, N: i32, c0: i32, c1: i32, accumulate: i32): void {
  const wide = c0 + ((c1 - c0) & ~15);
  const quads = wide + ((c1 - wide) & ~3);
  const mPairs = M & ~1;
  for (let kb = 0; kb < K; kb += NN_K_ROWS) {
    const kEnd = min(K, kb + NN_K_ROWS);
    const first = kb == 0 && accumulate == 0;
    for (let c = c0; c < wide; c += 16) {
      for (let m = 0; m < mPairs; m += 2) panel2x16(x, ldx, w, y, m, c, N, kb, kEnd, first);
      if (mPairs < M) panel1x16(x, ldx, w, y, mPairs, c, N, kb, kEnd, first);
    }
    for (let m = 0; m < M; m++) {
      for (let c = wide; c < quads; c += 4) narrow(x, ldx, w, y, m, c, N, kb, kEnd, first, 4);
      for (let c = quads; c < c1; c++) narrow(x, ldx, w, y, m, c, N, kb, kEnd, first, 1);
    }
  }
  if (K == 0 && accumulate == 0) {
    for (let m = 0; m < M; m++) {
      for (let c = c0; c < c1; c++) store<f32>(y + ((<usize>m * <usize>N + <usize>c) << 2), 0);
    }
  }
}

/** Columns of out per pass of columnSums: their 4 KB stay in L1 while every row of x goes by. */
const SUM_COLS: i32 = 1024;

/**
 * out[c] = Σ_r x[r, c] for x [R, C], each sum in increasing r from zero (the order of a sum over the rows one at a
 * time), reading x row by row.
 */
export function columnSums(x: usize, R: i32, C: i32, out: usize): void {
  for (let cb = 0; cb < C; cb += SUM_COLS) {
    const cEnd = min(C, cb + SUM_COLS);
    const wide = cb + ((cEnd - cb) & ~3);
    for (let c = cb; c < cEnd; c++) store<f32>(out + (<usize>c << 2), 0);
    for (let r = 0; r < R; r++) {
      const row = x + ((<usize>r * <usize>C) << 2);
      for (let c = cb; c < wide; c += 4) {
        const o = <usize>c << 2;
        v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(row + o)));
      }
      for (let c = wide; c < cEnd; c++) {
        const o = <usize>c << 2;
        store<f32>(out + o, load<f32>(out + o) + load<f32>(row + o));
      }
    }
  }
}
