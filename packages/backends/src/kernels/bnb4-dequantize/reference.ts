import { type Bnb4Arrays, blockScaleImpl, nibbleImpl } from '../bnb4-shared/arrays.js';

/**
 * Reference dequantization, one element at a time, straight from the bitsandbytes formula:
 * W[e] = f32(code[q_e] * A_{e / blocksize}) over the flat row-major index e of W [outFeatures, inFeatures].
 */
export function bnb4DequantizeImpl(w: Bnb4Arrays): Float32Array {
  const n = w.outFeatures * w.inFeatures;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    out[e] = Math.fround(w.code[nibbleImpl(w.packed, e)]! * blockScaleImpl(w, Math.floor(e / w.blocksize)));
  }
  return out;
}
