import { ConfigError, type DType, type HostTensor, NonFiniteWeightError, toFloat32 } from '@peft/core';
import { compressAbsmax } from './double-quant.js';
import { blockAbsmax, encodeFp4, encodeNf4 } from './encode.js';
import { codeTable } from './tables.js';
import {
  BNB4_BLOCKSIZES,
  BNB4_QUANT_TYPES,
  type Bnb4DType,
  type Bnb4QuantType,
  type Bnb4Tensor,
  DEFAULT_BLOCKSIZE,
  numelOf,
} from './types.js';

export interface Bnb4QuantizeOptions {
  /** Default "nf4". */
  quantType?: Bnb4QuantType;
  /** Elements per absmax block, one of 32, 64 (default), 128, ..., 4096. */
  blocksize?: number;
  /** Double quantization of the absmax statistics (bitsandbytes `compress_statistics`); default true. */
  doubleQuant?: boolean;
  /** Logical shape; required for a Float32Array input, taken from a HostTensor otherwise. */
  shape?: readonly number[];
  /**
   * dtype to record for a Float32Array input (the values must already be exact in it); a HostTensor's
   * own dtype is used otherwise. Default "float32".
   */
  dtype?: Bnb4DType;
  /** Name used in error messages. Default "weight". */
  name?: string;
  /**
   * By default a NaN or ±Inf weight is an error. `true` quantizes it as the CUDA kernel would
   * (NaN scales to code 0 for NF4 / FP4, an Inf makes its block's absmax Inf).
   */
  allowNonFinite?: boolean;
}

const HOST_DTYPES: Partial<Record<DType, Bnb4DType>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The float32 values and recorded dtype of a quantizer input. */
function readInput(input: Float32Array | HostTensor, options: Bnb4QuantizeOptions, name: string) {
  if (input instanceof Float32Array) {
    const shape = options.shape ?? [input.length];
    if (numelOf(shape) !== input.length) {
      throw new ConfigError(`${name}: shape ${JSON.stringify(shape)} does not hold ${input.length} values`);
    }
    return { values: input, shape, dtype: options.dtype ?? 'float32' };
  }
  const dtype = HOST_DTYPES[input.dtype];
  if (!dtype) {
    throw new ConfigError(`${name}: cannot quantize a ${input.dtype} tensor; expected F32, F16 or BF16`);
  }
  return { values: toFloat32(input), shape: input.shape, dtype };
}

function resolveQuantType(value: unknown, name: string): Bnb4QuantType {
  if (!BNB4_QUANT_TYPES.includes(value as Bnb4QuantType)) {
    throw new ConfigError(`${name}: unknown 4-bit quant type ${JSON.stringify(value)}; use "nf4" or "fp4"`);
  }
  return value as Bnb4QuantType;
}

export function assertBlocksize(blocksize: number, name: string): void {
  if (!BNB4_BLOCKSIZES.includes(blocksize)) {
    throw new ConfigError(`${name}: blocksize ${blocksize} is not one of ${BNB4_BLOCKSIZES.join(', ')}`);
  }
}

/**
 * Blockwise 4-bit quantization exactly as bitsandbytes' CUDA kernels do it (`quantize_4bit`):
 * per block absmax, scale by the float32 reciprocal, encode, pack two codes per byte (high nibble
 * first), and optionally double-quantize the absmax values. Pure TypeScript, browser-safe.
 */
export function quantize4bit(
  input: Float32Array | HostTensor,
  options: Bnb4QuantizeOptions = {},
): Bnb4Tensor {
  const name = options.name ?? 'weight';
  const quantType = resolveQuantType(options.quantType ?? 'nf4', name);
  const blocksize = options.blocksize ?? DEFAULT_BLOCKSIZE;
  assertBlocksize(blocksize, name);
  const { values, shape, dtype } = readInput(input, options, name);
  if (!options.allowNonFinite) assertFinite(values, name);

  const n = values.length;
  const blocks = Math.ceil(n / blocksize);
  const absmax = new Float32Array(blocks);
  const packed = new Uint8Array((n + 1) >> 1);
  const encode = quantType === 'nf4' ? encodeNf4 : encodeFp4;

  for (let b = 0; b < blocks; b++) {
    const start = b * blocksize;
    const end = Math.min(n, start + blocksize);
    const max = blockAbsmax(values, start, end);
    absmax[b] = max;
    // A multiply by the float32 reciprocal, not a division (they differ by an ulp at thresholds).
    // An all-zero block gives inv = +Inf and s = 0 * Inf = NaN, which encodes to code 0, as on CUDA.
    const inv = Math.fround(1 / max);
    // Blocksizes are even, so a block never splits a byte.
    for (let i = start; i < end; i += 2) {
      const high = encode(Math.fround(values[i]! * inv));
      // Odd n: the kernel encodes the 0.0 it loaded as padding (NaN again if the block is all zeros).
      const low = encode(Math.fround((i + 1 < end ? values[i + 1]! : 0) * inv));
      packed[i >> 1] = (high << 4) | low;
    }
  }

  const doubleQuant = options.doubleQuant ?? true;
  return {
    packed,
    storage: 'U8',
    state: {
      quantType,
      blocksize,
      dtype,
      shape: [...shape],
      code: codeTable(quantType).slice(),
      absmax: doubleQuant ? null : absmax,
      nested: doubleQuant ? compressAbsmax(absmax) : null,
    },
  };
}

function assertFinite(values: Float32Array, name: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) throw new NonFiniteWeightError(name, i, v);
  }
}
