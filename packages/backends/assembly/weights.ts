// The weight the kernels work on: pointers into TensorFlow.js' heap and the attributes of the bitsandbytes layout,
// set by bindWeights before each kernel call (module globals, so kernels need no allocation to receive them).
//
// Element e of the logical weight W [N, K] (row-major, flat index e = n*K + k) is nibble (e & 1 ? low : high) of
// byte e >> 1, and belongs to scale block e >> blocksizeLog2.

export let gPacked: usize = 0;
export let gAbsmax: usize = 0; // f32[nb], or u8 codes when nested
export let gNested: i32 = 0;
export let gNestedAbsmax: usize = 0; // f32[ceil(nb / nestedBlocksize)]
export let gNestedCode: usize = 0; // f32[256]
export let gNestedBlocksize: i32 = 256;
export let gOffset: f32 = 0;
export let gCode: usize = 0; // f32[16]
export let gBlocksizeLog2: i32 = 6;
export let gN: i32 = 0;
export let gK: i32 = 0;

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
@inline
export function blockScale(b: i32): f32 {
  if (gNested == 0) return load<f32>(gAbsmax + (<usize>b << 2));
  const q = <usize>load<u8>(gAbsmax + <usize>b);
  const scaled: f32 = load<f32>(gNestedCode + (q << 2)) * load<f32>(gNestedAbsmax + (<usize>(b / gNestedBlocksize) << 2));
  return scaled + gOffset;
}

@inline
export function codeOf(e: i32): f32 {
  const byte = <u32>load<u8>(gPacked + (<usize>e >> 1));
  const q = e & 1 ? byte & 15 : byte >> 4;
  return load<f32>(gCode + (<usize>q << 2));
}

