/**
 * A bitsandbytes 4-bit weight as plain typed arrays: what the reference implementations and the typed-array
 * kernels (cpu backend, wasm fallback) read. Views may point into a backend's memory; nothing here copies.
 */
export interface Bnb4Arrays {
  /** The packed bytes: byte k = (q[2k] << 4) | q[2k + 1]; may be longer than ceil(n / 2) (zero padding). */
  packed: Uint8Array;
  /** float32 [nb], or the u8 nested codes [>= nb] when `nestedAbsmax` is set. */
  absmax: Float32Array | Uint8Array;
  nestedAbsmax: Float32Array | null;
  nestedCode: Float32Array | null;
  /** float32 [16]: the 4-bit code table (the file's quant_map). */
  code: Float32Array;
  outFeatures: number;
  inFeatures: number;
  blocksize: number;
  nestedBlocksize: number;
  /** nested_offset (a float32 value) when nested, else 0. */
  offset: number;
}

/** Number of scale blocks of a weight. */
export function blockCount(w: Pick<Bnb4Arrays, 'outFeatures' | 'inFeatures' | 'blocksize'>): number {
  return Math.ceil((w.outFeatures * w.inFeatures) / w.blocksize);
}

/** A_b per the bitsandbytes formula: absmax[b], or f32(f32(nestedCode[q[b]] * nestedAbsmax[b / 256]) + offset). */
export function blockScaleImpl(w: Bnb4Arrays, b: number): number {
  if (w.nestedAbsmax === null || w.nestedCode === null) return (w.absmax as Float32Array)[b]!;
  const q = (w.absmax as Uint8Array)[b]!;
  const scaled = Math.fround(w.nestedCode[q]! * w.nestedAbsmax[Math.floor(b / w.nestedBlocksize)]!);
  return Math.fround(scaled + Math.fround(w.offset));
}

/** The 4-bit code of element e: the high nibble of byte e >> 1 for even e, the low nibble for odd e. */
export function nibbleImpl(packed: Uint8Array, e: number): number {
  const byte = packed[e >>> 1]!;
  return e & 1 ? byte & 15 : byte >>> 4;
}
