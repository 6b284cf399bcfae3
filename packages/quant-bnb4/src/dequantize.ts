import {
  bf16BitsToFloat,
  type DType,
  f16BitsToFloat,
  floatToBf16Bits,
  floatToF16Bits,
  fromFloat32,
  type HostTensor,
} from '@peft/core';
import { recoverAbsmax } from './double-quant.js';
import { Bnb4FormatError } from './errors.js';
import { dequantizationCode } from './tables.js';
import type { Bnb4DType, Bnb4QuantState, Bnb4Tensor } from './types.js';
import { numelOf } from './types.js';

/** The float32 absmax every 4-bit block is scaled by (recovered from the 8-bit codes when nested). */
export function effectiveAbsmax(state: Bnb4QuantState): Float32Array {
  if (state.nested) return recoverAbsmax(state.nested);
  if (!state.absmax)
    throw new Bnb4FormatError('quant state', 'weight.absmax', 'neither absmax nor nested statistics');
  return state.absmax;
}

/**
 * Dequantizes to float32 `code[q] * absmax` with the state's OWN code table (the one stored in the
 * file; FP4 code 8 as -0.0, see dequantizationCode), before any rounding to the state's dtype. This is
 * what the matmul kernels use.
 */
export function dequantize4bitFloat32(tensor: Pick<Bnb4Tensor, 'packed' | 'state'>): Float32Array {
  const { packed, state } = tensor;
  const n = numelOf(state.shape);
  const absmax = effectiveAbsmax(state);
  const code = dequantizationCode(state.quantType, state.code);
  const out = new Float32Array(n);
  const blocksize = state.blocksize;
  for (let b = 0; b < absmax.length; b++) {
    const scale = absmax[b]!;
    const start = b * blocksize;
    const end = Math.min(n, start + blocksize);
    // Blocksizes are even, so a block starts on a byte; only the last element of odd n stands alone.
    let i = start;
    for (; i + 1 < end; i += 2) {
      const byte = packed[i >> 1]!;
      out[i] = code[byte >> 4]! * scale;
      out[i + 1] = code[byte & 0x0f]! * scale;
    }
    if (i < end) out[i] = code[packed[i >> 1]! >> 4]! * scale;
  }
  return out;
}

/** Rounds float32 values in place to the nearest value of `dtype` (nearest even), as `.to(dtype)` does. */
export function roundToDType(values: Float32Array, dtype: Bnb4DType): Float32Array {
  if (dtype === 'float16') {
    for (let i = 0; i < values.length; i++) values[i] = f16BitsToFloat(floatToF16Bits(values[i]!));
  } else if (dtype === 'bfloat16') {
    for (let i = 0; i < values.length; i++) values[i] = bf16BitsToFloat(floatToBf16Bits(values[i]!));
  }
  return values;
}

/** bitsandbytes `dequantize_4bit`: float32 products rounded to the state's dtype, as float32 values. */
export function dequantize4bit(tensor: Pick<Bnb4Tensor, 'packed' | 'state'>): Float32Array {
  return roundToDType(dequantize4bitFloat32(tensor), tensor.state.dtype);
}

export const HOST_DTYPE_OF: Record<Bnb4DType, DType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

/** Dequantizes into a host tensor of the logical shape, in `dtype` (default: the state's dtype). */
export function dequantize4bitToHost(
  tensor: Pick<Bnb4Tensor, 'packed' | 'state'>,
  dtype?: Bnb4DType,
): HostTensor {
  const target = dtype ?? tensor.state.dtype;
  return fromFloat32(dequantize4bit(tensor), tensor.state.shape, HOST_DTYPE_OF[target]);
}
