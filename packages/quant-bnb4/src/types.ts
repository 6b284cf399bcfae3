import type { DType } from '@peft/core';

/** The two 4-bit data types of bitsandbytes. */
export type Bnb4QuantType = 'nf4' | 'fp4';
export const BNB4_QUANT_TYPES: readonly Bnb4QuantType[] = ['nf4', 'fp4'];

/** The weight dtype a quantization state records (`QuantState.dtype`); dequantization returns it. */
export type Bnb4DType = 'float32' | 'float16' | 'bfloat16';
export const BNB4_DTYPES: readonly Bnb4DType[] = ['float32', 'float16', 'bfloat16'];

/** 4-bit blocksizes bitsandbytes supports (32 since 0.50); 64 is its default. */
export const BNB4_BLOCKSIZES: readonly number[] = [32, 64, 128, 256, 512, 1024, 2048, 4096];
export const DEFAULT_BLOCKSIZE = 64;
/** Double quantization always groups the absmax statistics in blocks of 256. */
export const NESTED_BLOCKSIZE = 256;
/** Blocksizes bitsandbytes' 8-bit `quantize_blockwise` supports: what a file's nested_blocksize may be. */
export const BNB4_NESTED_BLOCKSIZES: readonly number[] = [64, 128, 256, 512, 1024, 2048, 4096];

/** Second-level (double) quantization of the per-block absmax values. */
export interface Bnb4NestedState {
  /** One 8-bit code per 4-bit block (`weight.absmax`, U8). */
  readonly codes: Uint8Array;
  /** float32 scale per group of `blocksize` codes (`weight.nested_absmax`). */
  readonly absmax: Float32Array;
  /** The 256-entry map the codes index (`weight.nested_quant_map`). */
  readonly code: Float32Array;
  readonly blocksize: number;
  /** float32 mean subtracted before quantizing (`nested_offset` in the JSON). */
  readonly offset: number;
}

/**
 * Everything bitsandbytes keeps about one 4-bit tensor besides its packed bytes (`QuantState`).
 * `shape` is the LOGICAL shape; the packed storage is always `(ceil(n/2), 1)` bytes.
 */
export interface Bnb4QuantState {
  readonly quantType: Bnb4QuantType;
  readonly blocksize: number;
  readonly dtype: Bnb4DType;
  readonly shape: readonly number[];
  /** The 16 levels the 4-bit codes index (`weight.quant_map`). */
  readonly code: Float32Array;
  /** float32 absmax per block when not nested, else `null`. */
  readonly absmax: Float32Array | null;
  readonly nested: Bnb4NestedState | null;
}

/** A 4-bit tensor: packed nibbles (element 2k in the high nibble of byte k) plus its state. */
export interface Bnb4Tensor {
  readonly packed: Uint8Array;
  readonly state: Bnb4QuantState;
  /**
   * dtype the packed bytes are stored as in a state dict (`quant_storage`; `U8` unless the checkpoint
   * was made for FSDP). The bytes are the same whatever it is.
   */
  readonly storage: DType;
}

/** Number of elements of a logical shape. */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Number of 4-bit blocks of a state. */
export function blockCount(state: Pick<Bnb4QuantState, 'shape' | 'blocksize'>): number {
  return Math.ceil(numelOf(state.shape) / state.blocksize);
}
