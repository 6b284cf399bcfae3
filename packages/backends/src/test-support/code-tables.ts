// 4-bit code tables and an 8-bit signed dynamic map, as inputs for the kernel tests. The kernels take any
// table; these are bitsandbytes' NF4 and FP4 levels for realistic data, and a dynamic map built the way
// bitsandbytes builds it (in float64 here, so its last bits may differ from a checkpoint's). The exact
// tables and the golden bitsandbytes cases belong to @peft/quant-bnb4, which tests these kernels on them.

function fromBits(bits: readonly number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

export const NF4_CODE = fromBits([
  0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000, 0x3da2faff,
  0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
]);

export const FP4_CODE = fromBits([
  0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000, 0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000, 0x00000000,
  0xbbaaaaab, 0xbf2aaaab, 0xbf800000, 0xbeaaaaab, 0xbf000000, 0xbe2aaaab, 0xbe800000,
]);

/**
 * bitsandbytes' `create_dynamic_map(signed=True)`: for each decade i = 0..6, the midpoints of
 * `linspace(0.1, 1, 2^i + 1)` scaled by 10^(i - 6), with both signs, plus 0 and 1; sorted.
 */
function dynamicMapSigned(): Float32Array {
  const values: number[] = [0, 1];
  for (let i = 0; i < 7; i++) {
    const n = 2 ** i + 1;
    const boundaries = Array.from({ length: n }, (_, k) => 0.1 + (0.9 * k) / (n - 1));
    for (let k = 0; k + 1 < n; k++) {
      const value = 10 ** (i - 6) * ((boundaries[k]! + boundaries[k + 1]!) / 2);
      values.push(value, -value);
    }
  }
  return Float32Array.from(values.sort((a, b) => a - b));
}

export const DYNAMIC_MAP = dynamicMapSigned();
