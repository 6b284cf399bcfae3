// WGSL shared by the bnb4 WebGPU programs. Inputs are bound as wPacked (i32 words), wAbsmax (f32, or i32 words
// of u8 codes when nested), wCode (f32 [16]) and, when nested, wNestedAbsmax and wNestedCode.

export const BNB4_UNIFORMS =
  'blocksize : i32, nestedBlocksize : i32, offset : f32, N : i32, K : i32, M : i32,';

export function bnb4VariableNames(nested: boolean): string[] {
  return nested
    ? ['wPacked', 'wAbsmax', 'wCode', 'wNestedAbsmax', 'wNestedCode']
    : ['wPacked', 'wAbsmax', 'wCode'];
}

/** nibble(e): 4-bit code of element e (high nibble of byte e/2 when e is even); blockScale(b): A_b. */
export function bnb4Functions(nested: boolean): string {
  const scale = nested
    ? `
  let q = (wAbsmax[b >> 2u] >> u32(8 * (b & 3))) & 255;
  let scaled = wNestedCode[q] * wNestedAbsmax[b / uniforms.nestedBlocksize];
  return scaled + uniforms.offset;`
    : `
  return wAbsmax[b];`;
  return `
fn nibble(e : i32) -> i32 {
  let word = wPacked[e >> 3u];
  let byteShift = u32(8 * ((e & 7) >> 1u));
  let shift = select(byteShift + 4u, byteShift, (e & 1) == 1);
  return (word >> shift) & 15;
}
fn blockScale(b : i32) -> f32 {${scale}
}`;
}
