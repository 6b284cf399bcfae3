import { type Bnb4Arrays, blockScaleImpl } from './arrays.js';

/**
 * Writes W[start .. end) (flat row-major indices) to out[outOffset ..], exactly f32(code[q] * A_b): the product
 * of two float32 values is exact in float64 and the Float32Array store rounds it once, as the CUDA kernel does.
 * Walks one scale block at a time, so the block scale is computed once per block, not per element.
 */
export function dequantizeRangeInto(
  w: Bnb4Arrays,
  start: number,
  end: number,
  out: Float32Array,
  outOffset = 0,
): void {
  const { packed, code, blocksize } = w;
  let e = start;
  let i = outOffset;
  while (e < end) {
    const b = Math.floor(e / blocksize);
    const a = blockScaleImpl(w, b);
    const segmentEnd = Math.min(end, (b + 1) * blocksize);
    if (e & 1 && e < segmentEnd) {
      out[i++] = code[packed[e >>> 1]! & 15]! * a;
      e++;
    }
    for (; e + 1 < segmentEnd; e += 2) {
      const byte = packed[e >>> 1]!;
      out[i++] = code[byte >>> 4]! * a;
      out[i++] = code[byte & 15]! * a;
    }
    if (e < segmentEnd) {
      out[i++] = code[packed[e >>> 1]! >>> 4]! * a;
      e++;
    }
  }
}
