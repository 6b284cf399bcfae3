import type * as tf from '@tensorflow/tfjs-core';
import { SpecificationVersionError } from './errors.js';
import type { StateDict } from './host-tensor.js';

/** The versions of the `QuantizedLinear` contract this package understands. */
export const QUANTIZED_LINEAR_SPECIFICATION_VERSIONS = ['v1'] as const;
export type QuantizedLinearSpecificationVersion = (typeof QUANTIZED_LINEAR_SPECIFICATION_VERSIONS)[number];

/**
 * One frozen linear layer `y = x·Wᵀ + b`, seen through its LOGICAL shape whatever its storage.
 *
 * This is the only way a PEFT method sees a base layer. A 4-bit layer stores W packed
 * (e.g. bitsandbytes keeps a 4096x4096 weight as 8,388,608 bytes of shape (8388608, 1)); methods
 * that size things from storage break, so storage is deliberately not exposed here.
 */
export interface QuantizedLinear {
  /** Contract version, so the interface can evolve as a discriminated union. */
  readonly specificationVersion: QuantizedLinearSpecificationVersion;
  /** The storage scheme, e.g. "dense", "bnb4-nf4", "bnb4-fp4". */
  readonly scheme: string;
  /** Logical input features (columns of W). */
  readonly inFeatures: number;
  /** Logical output features (rows of W). */
  readonly outFeatures: number;
  readonly bias: tf.Tensor1D | null;
  /** x[..., in] -> x·Wᵀ + b, differentiable with respect to x (W is frozen). */
  forward(x: tf.Tensor): tf.Tensor;
  /** W as float32 [out, in]; the caller disposes it. */
  dequantize(): tf.Tensor2D;
  /** A new layer of the same scheme and options holding `w` ([out, in]); the bias is kept. */
  requantize(w: tf.Tensor2D): QuantizedLinear;
  /** Bytes actually held for the weight and its statistics (not the bias). */
  readonly storageBytes: number;
  /** Entries in the format's own key layout, e.g. `${prefix}weight`, `${prefix}weight.absmax`. */
  stateDict(prefix: string): StateDict;
  dispose(): void;
}

/** Throws a clear error when an implementation was built against a contract version we do not know. */
export function assertQuantizedLinear(layer: QuantizedLinear, where = 'a QuantizedLinear'): void {
  if (!(QUANTIZED_LINEAR_SPECIFICATION_VERSIONS as readonly string[]).includes(layer.specificationVersion)) {
    throw new SpecificationVersionError(
      `${where} (scheme ${JSON.stringify(layer.scheme)})`,
      layer.specificationVersion,
      QUANTIZED_LINEAR_SPECIFICATION_VERSIONS,
    );
  }
}

/** Bits of storage per logical weight, e.g. ~4.127 for NF4 with double quantization. */
export function bitsPerParameter(layer: QuantizedLinear): number {
  return (layer.storageBytes * 8) / (layer.inFeatures * layer.outFeatures);
}
