import { ConfigError, ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Bnb4Arrays, blockCount } from '../kernels/bnb4-shared/arrays.js';
import type { Bnb4Attrs } from '../kernels/kernel-names.js';
import { releaseWeightMirror } from '../kernels/wasm-threads/weight-mirror.js';

/**
 * A bitsandbytes 4-bit weight as tensors, in the layout the fused kernels read directly.
 *
 * Semantics (bitsandbytes CUDA): A_b = nested ? f32(f32(nestedCode[absmaxCode[b]] * nestedAbsmax[b / 256]) + offset)
 * : absmax[b]; W[e] = f32(code[q_e] * A_{e / blocksize}) over the flat row-major index e of W [outFeatures, inFeatures].
 */
export interface Bnb4Weights {
  /**
   * int32: the packed bytes read as little-endian int32 words, zero-padded to a multiple of 4 bytes. Byte k is
   * (q[2k] << 4) | q[2k+1], so element e sits in word e >> 3 at bit shift 8 * ((e & 7) >> 1) + (e & 1 ? 0 : 4).
   */
  packed: tf.Tensor1D;
  /** Not nested: float32 [nb]. Nested (double quant): int32 words holding the u8 codes (little-endian, zero-padded). */
  absmax: tf.Tensor1D;
  /** float32 [ceil(nb / nestedBlocksize)] when nested, else null. */
  nestedAbsmax: tf.Tensor1D | null;
  /** float32 [256] (the file's nested_quant_map) when nested, else null. */
  nestedCode: tf.Tensor1D | null;
  /** float32 [16]: the file's quant_map; always dequantize with the stored table. */
  code: tf.Tensor1D;
  /** Logical W shape [N = outFeatures, K = inFeatures]. */
  outFeatures: number;
  inFeatures: number;
  /** 32 .. 4096, a power of two. */
  blocksize: number;
  /** 256 in every bitsandbytes checkpoint. */
  nestedBlocksize: number;
  /** nested_offset (a float32 value) when nested, else 0. */
  offset: number;
}

const BLOCKSIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096];

function expectTensor(
  op: string,
  field: string,
  t: tf.Tensor | null,
  dtype: tf.DataType,
  size: number,
  why: string,
): void {
  if (!t)
    throw new ShapeMismatchError(`${op}: weights.${field} is missing; expected ${dtype} [${size}] (${why})`);
  if (t.isDisposed) throw new ShapeMismatchError(`${op}: weights.${field} has been disposed`);
  if (t.rank !== 1 || t.dtype !== dtype || t.size !== size) {
    throw new ShapeMismatchError(
      `${op}: weights.${field} is ${t.dtype} ${JSON.stringify(t.shape)}, expected ${dtype} [${size}] (${why})`,
    );
  }
}

/** The largest nested blocksize the kernels take (bitsandbytes writes 256). */
const MAX_NESTED_BLOCKSIZE = 2 ** 30;

/** Throws a typed error naming the field when `w` is not a consistent Bnb4Weights. */
export function validateBnb4Weights(w: Bnb4Weights, op: string): void {
  const { outFeatures: N, inFeatures: K, blocksize } = w;
  if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0) {
    throw new ShapeMismatchError(
      `${op}: weights.outFeatures/inFeatures must be positive integers, got [${N}, ${K}]`,
    );
  }
  if (!BLOCKSIZES.includes(blocksize)) {
    throw new ConfigError(
      `${op}: weights.blocksize ${blocksize} is not a bitsandbytes 4-bit blocksize (${BLOCKSIZES.join(', ')})`,
    );
  }
  const n = N * K;
  const nb = blockCount(w);
  const bytes = Math.ceil(n / 2);
  expectTensor(
    op,
    'packed',
    w.packed,
    'int32',
    Math.ceil(bytes / 4),
    `${bytes} packed bytes of ${N}x${K} as int32 words`,
  );
  expectTensor(op, 'code', w.code, 'float32', 16, 'the 4-bit code table');
  const nested = w.nestedAbsmax !== null || w.nestedCode !== null;
  if (!nested) {
    expectTensor(op, 'absmax', w.absmax, 'float32', nb, `one scale per block of ${blocksize}`);
    return;
  }
  // The wasm kernels divide block indices by it in int32: 2^31 would wrap negative, 2^32 to zero.
  if (
    !Number.isInteger(w.nestedBlocksize) ||
    w.nestedBlocksize <= 0 ||
    w.nestedBlocksize > MAX_NESTED_BLOCKSIZE
  ) {
    throw new ConfigError(
      `${op}: weights.nestedBlocksize must be a whole number from 1 to ${MAX_NESTED_BLOCKSIZE}, got ${w.nestedBlocksize}`,
    );
  }
  if (!Number.isFinite(w.offset))
    throw new ConfigError(`${op}: weights.offset must be finite, got ${w.offset}`);
  expectTensor(op, 'absmax', w.absmax, 'int32', Math.ceil(nb / 4), `${nb} u8 nested codes as int32 words`);
  expectTensor(
    op,
    'nestedAbsmax',
    w.nestedAbsmax,
    'float32',
    Math.ceil(nb / w.nestedBlocksize),
    'double quantization',
  );
  expectTensor(op, 'nestedCode', w.nestedCode, 'float32', 256, 'double quantization');
}

export function isNested(w: Bnb4Weights): boolean {
  return w.nestedAbsmax !== null;
}

export function bnb4KernelInputs(w: Bnb4Weights): tf.NamedTensorMap {
  const inputs: tf.NamedTensorMap = { packed: w.packed, absmax: w.absmax, code: w.code };
  if (w.nestedAbsmax && w.nestedCode) {
    inputs['nestedAbsmax'] = w.nestedAbsmax;
    inputs['nestedCode'] = w.nestedCode;
  }
  return inputs;
}

export function bnb4KernelAttrs(w: Bnb4Weights): Bnb4Attrs {
  return {
    outFeatures: w.outFeatures,
    inFeatures: w.inFeatures,
    blocksize: w.blocksize,
    nestedBlocksize: isNested(w) ? w.nestedBlocksize : 256,
    offset: isNested(w) ? Math.fround(w.offset) : 0,
    nested: isNested(w),
  };
}

/** Little-endian int32 words of `bytes`, zero-padded to a whole word. */
export function bytesToInt32Words(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
}

/**
 * Tensors for a weight given as typed arrays (e.g. straight from a bitsandbytes state dict: packed U8 bytes,
 * absmax F32 or U8 nested codes, quant_map, nested_absmax, nested_quant_map). The caller disposes them
 * (disposeBnb4Weights).
 */
export function bnb4WeightsFromArrays(a: Bnb4Arrays): Bnb4Weights {
  const nested = a.nestedAbsmax !== null;
  return {
    packed: tf.tensor1d(bytesToInt32Words(a.packed), 'int32'),
    absmax: nested
      ? tf.tensor1d(bytesToInt32Words(a.absmax as Uint8Array), 'int32')
      : tf.tensor1d(a.absmax as Float32Array, 'float32'),
    nestedAbsmax: nested ? tf.tensor1d(a.nestedAbsmax!, 'float32') : null,
    nestedCode: nested && a.nestedCode ? tf.tensor1d(a.nestedCode, 'float32') : null,
    code: tf.tensor1d(a.code, 'float32'),
    outFeatures: a.outFeatures,
    inFeatures: a.inFeatures,
    blocksize: a.blocksize,
    nestedBlocksize: a.nestedBlocksize,
    offset: nested ? a.offset : 0,
  };
}

/** Typed-array copies of a weight's tensors (for the reference implementations and tests). */
export function bnb4WeightsToArrays(w: Bnb4Weights): Bnb4Arrays {
  const bytesOf = (t: tf.Tensor): Uint8Array => {
    const words = t.dataSync() as Int32Array;
    return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  };
  const nested = isNested(w);
  return {
    packed: bytesOf(w.packed),
    absmax: nested ? bytesOf(w.absmax) : (w.absmax.dataSync() as Float32Array),
    nestedAbsmax: nested ? (w.nestedAbsmax!.dataSync() as Float32Array) : null,
    nestedCode: nested ? (w.nestedCode!.dataSync() as Float32Array) : null,
    code: w.code.dataSync() as Float32Array,
    outFeatures: w.outFeatures,
    inFeatures: w.inFeatures,
    blocksize: w.blocksize,
    nestedBlocksize: w.nestedBlocksize,
    offset: nested ? w.offset : 0,
  };
}

export function disposeBnb4Weights(w: Bnb4Weights): void {
  releaseWeightMirror(w.packed);
  tf.dispose([
    w.packed,
    w.absmax,
    w.code,
    ...(w.nestedAbsmax ? [w.nestedAbsmax] : []),
    ...(w.nestedCode ? [w.nestedCode] : []),
  ]);
}
