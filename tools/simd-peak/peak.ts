// The arithmetic ceiling of wasm SIMD128 on one core: eight independent accumulators and no memory traffic, so
// the loop runs at the engine's issue rate. `x` changes every iteration so that no product can be hoisted.

/** iters x (1 + 8 multiplies and 8 adds) on f32x4; returns a lane so that nothing is dead code. */
export function f32MulAdd(iters: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0);
  let a5 = f32x4.splat(0);
  let a6 = f32x4.splat(0);
  let a7 = f32x4.splat(0);
  let x = f32x4.splat(1.0000001);
  const y = f32x4.splat(0.9999999);
  for (let i = 0; i < iters; i++) {
    x = f32x4.mul(x, y);
    a0 = f32x4.add(a0, f32x4.mul(x, y));
    a1 = f32x4.add(a1, f32x4.mul(y, x));
    a2 = f32x4.add(a2, f32x4.mul(x, x));
    a3 = f32x4.add(a3, f32x4.mul(y, y));
    a4 = f32x4.add(a4, f32x4.mul(x, y));
    a5 = f32x4.add(a5, f32x4.mul(y, x));
    a6 = f32x4.add(a6, f32x4.mul(x, x));
    a7 = f32x4.add(a7, f32x4.mul(y, y));
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)),
    f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)),
  );
  return f32x4.extract_lane(s, 0);
}

/** iters x (1 + 8 i32x4.dot_i16x8_s and 8 adds): the 4-bit kernels' inner product. */
export function i16Dot(iters: i32): i32 {
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0);
  let a5 = i32x4.splat(0);
  let a6 = i32x4.splat(0);
  let a7 = i32x4.splat(0);
  let x = i16x8.splat(3);
  const y = i16x8.splat(5);
  for (let i = 0; i < iters; i++) {
    x = i16x8.add(x, y);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, y));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(y, x));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(x, x));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(y, y));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(x, y));
    a5 = i32x4.add(a5, i32x4.dot_i16x8_s(y, x));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(x, x));
    a7 = i32x4.add(a7, i32x4.dot_i16x8_s(y, y));
  }
  const s = i32x4.add(
    i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)),
    i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)),
  );
  return i32x4.extract_lane(s, 0);
}
