import type { AdapterConfigInput } from '@peft/adapter-bridge';
import type { BaseLayerFactory } from '@peft/adapter-bridge/testing';

/**
 * One PEFT method in the matrix. A new method joins by adding a row: import `methodRows`, append
 * yours, and pass the list to `defineMatrix` (see README).
 */
export interface MethodRow {
  /** Row label, e.g. "vera". */
  readonly name: string;
  /** PEFT's `peft_type`; the method package must be imported (registered) by the row's module. */
  readonly peftType: string;
  /**
   * A config for the test tree (hidden 16, MLP 24) whose adapter is NOT a no-op at initialisation
   * (e.g. `init_weights: false`), targeting `targets`, so forward and merge checks see a real delta.
   */
  config(targets: string[] | string): AdapterConfigInput;
}

/**
 * One kind of base layer in the matrix (dense, or a quantizer's format with its options). A new
 * quantizer joins by adding a row with a `makeLayer` that builds its `QuantizedLinear`.
 */
export interface BaseLayerRow {
  /** Row label, e.g. "nf4-dq". */
  readonly name: string;
  /** The `scheme` its layers report (also after merging, which must not change the format). */
  readonly scheme: string;
  /** True when re-quantizing a merged weight rounds it (dense merges are exact). */
  readonly lossy: boolean;
  /** Builds a base layer from a row-major [out, in] float32 weight. */
  readonly makeLayer: BaseLayerFactory;
}
