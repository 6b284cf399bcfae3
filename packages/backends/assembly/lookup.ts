// The byte-table lookup every fixed-point kernel decodes nibbles with. Built with relaxed SIMD it is
// `i8x16.relaxed_swizzle`, one pshufb on x86, instead of `i8x16.swizzle`, which engines must guard for indices
// >= 16 (on V8 a saturating add first). The indices here are always nibbles (0..15), for which both give the
// same bytes, so the two builds compute identical results (scripts/build-wasm.mjs builds both).

@inline
export function lookup(table: v128, indices: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, indices);
  return i8x16.swizzle(table, indices);
}
