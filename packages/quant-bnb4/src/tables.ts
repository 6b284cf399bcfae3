// The code tables of bitsandbytes 4-bit quantization, as exact float32 bit patterns (see
// docs/formats/bitsandbytes-4bit.md). Bit patterns rather than decimal literals, because byte
// exactness is the point and a mistyped digit in a decimal would round to a neighbouring float.

function fromBits(bits: readonly number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

/** NF4 levels, indexed by the 4-bit code (what a checkpoint stores as `weight.quant_map`). */
export const NF4_CODE: Float32Array = fromBits([
  0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000, 0x3da2faff,
  0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
]);

/**
 * The 15 literals of CUDA's `dQuantizeNF4` decision tree; each equals the float32 midpoint of two
 * neighbouring NF4 levels. The code of a scaled value s is the number of thresholds strictly below s.
 */
export const NF4_THRESHOLDS: Float32Array = fromBits([
  0xbf591cd8, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec, 0xbe0d38bc, 0xbd3a7871, 0x3d22faff, 0x3df64862,
  0x3e5067e0, 0x3e9582d4, 0x3ec753f9, 0x3f006d04, 0x3f248daf, 0x3f5c89da,
]);

/**
 * FP4 levels as bitsandbytes serialises them (`weight.quant_map`): sign-magnitude, bit 3 the sign.
 * Index 8 is +0.0 here (Python's `-0` literal is the integer 0); dequantization uses -0.0 for it, as
 * the CUDA kernel does (see dequantizationCode).
 */
export const FP4_CODE: Float32Array = fromBits([
  0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000, 0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000, 0x00000000,
  0xbbaaaaab, 0xbf2aaaab, 0xbf800000, 0xbeaaaaab, 0xbf000000, 0xbe2aaaab, 0xbe800000,
]);

/**
 * The literal magnitude thresholds of CUDA's `dQuantizeFP4`. Five of them are NOT the float32
 * midpoints of their neighbours (they sit 1-14 ulp away); byte compatibility needs these exact values.
 */
export const FP4_THRESHOLDS: Float32Array = fromBits([
  0x3b2aaab9, 0x3db00000, 0x3e555555, 0x3e955555, 0x3ed55556, 0x3f155550, 0x3f555555,
]);

/** FP4 magnitude bits by rank (number of thresholds exceeded), smallest magnitude first. */
export const FP4_RANK_TO_BITS: Uint8Array = new Uint8Array([
  0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011,
]);

// Positive half (indices 128..254) of bitsandbytes' signed dynamic map as built by a torch whose
// linspace fuses the multiply-add (the map every public checkpoint carries).
const DYNAMIC_POSITIVE_BITS = [
  0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b, 0x398ce705,
  0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d, 0x3af1a9fc, 0x3b1db22d,
  0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4, 0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a,
  0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148, 0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a,
  0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148, 0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1,
  0x3d500000, 0x3d5b851f, 0x3d670a3d, 0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b,
  0x3d9bd70a, 0x3da1999a, 0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85,
  0x3ddb3334, 0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
  0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000, 0x3eb13333,
  0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a, 0x3eeacccc, 0x3ef20000,
  0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a, 0x3f123334, 0x3f15cccd, 0x3f196666,
  0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666, 0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd,
  0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333, 0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333,
  0x3f5dcccd, 0x3f616666, 0x3f650000, 0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a,
  0x3f7e3333,
];

function buildSignedDynamicMap(): Float32Array {
  const positive = fromBits(DYNAMIC_POSITIVE_BITS);
  const map = new Float32Array(256);
  for (let k = 0; k < 127; k++) {
    map[128 + k] = positive[k]!;
    map[126 - k] = -positive[k]!;
  }
  map[127] = 0;
  map[255] = 1;
  return map;
}

/**
 * `create_dynamic_map(signed=True)`: the 8-bit code double quantization uses for the absmax
 * statistics. Ascending, symmetric, no -1.0: [-0.99296874 .. 0 .. 0.99296874, 1.0].
 */
export const DYNAMIC_MAP_SIGNED: Float32Array = buildSignedDynamicMap();

/**
 * The 16 levels dequantization multiplies by: the stored `quant_map` itself, except that FP4 code 8 (sign
 * bit set, magnitude 0) is -0.0 where the stored map holds +0.0. bitsandbytes' CUDA kernel computes
 * `magnitude * sign * absmax`, which is -0.0 for that code, while the map it serialises has +0.0; byte-exact
 * dequantization needs the kernel's sign. The stored map is returned unchanged (not copied) otherwise.
 */
export function dequantizationCode(quantType: 'nf4' | 'fp4', stored: Float32Array): Float32Array {
  if (quantType !== 'fp4' || stored.length !== 16 || !Object.is(stored[8], 0)) return stored;
  const code = stored.slice();
  code[8] = -0;
  return code;
}

/** The 4-bit code table bitsandbytes writes for a quant type. */
export function codeTable(quantType: 'nf4' | 'fp4'): Float32Array {
  return quantType === 'nf4' ? NF4_CODE : FP4_CODE;
}
