// Kernel names registered by @peft/backends. The `Peft` prefix keeps them apart from TensorFlow.js' own kernels.

/** Inputs: x [rows, D] float32, weight [D] float32. Attrs: epsilon. Output: y [rows, D]. */
export const RmsNorm = 'PeftRmsNorm';
export type RmsNormInputs = 'x' | 'weight';
export interface RmsNormAttrs {
  epsilon: number;
}

/** Inputs: dy [rows, D], x [rows, D], weight [D]. Attrs: epsilon. Outputs: [dx [rows, D], dweight [D]]. */
export const RmsNormGrad = 'PeftRmsNormGrad';
export type RmsNormGradInputs = 'dy' | 'x' | 'weight';

/**
 * The bitsandbytes 4-bit weight as kernel inputs: packed (int32 words of the packed bytes), absmax (float32, or
 * int32 words of the u8 codes when nested), code (float32 [16]) and, when nested, nestedAbsmax and nestedCode.
 */
export type Bnb4WeightInputs = 'packed' | 'absmax' | 'code' | 'nestedAbsmax' | 'nestedCode';
export interface Bnb4Attrs {
  outFeatures: number;
  inFeatures: number;
  blocksize: number;
  nestedBlocksize: number;
  offset: number;
  nested: boolean;
}

/** Inputs: the weight. Output: W [outFeatures, inFeatures] float32. */
export const Bnb4Dequantize = 'PeftBnb4Dequantize';
/** Inputs: x [M, inFeatures] + the weight. Output: x·Wᵀ [M, outFeatures]. */
export const Bnb4Matmul = 'PeftBnb4Matmul';
/** Inputs: dy [M, outFeatures] + the weight. Output: dy·W [M, inFeatures]. */
export const Bnb4MatmulTransposed = 'PeftBnb4MatmulTransposed';

export const ALL_KERNEL_NAMES = [
  RmsNorm,
  RmsNormGrad,
  Bnb4Dequantize,
  Bnb4Matmul,
  Bnb4MatmulTransposed,
] as const;
