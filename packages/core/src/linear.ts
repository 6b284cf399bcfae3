import type * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { assertQuantizedLinear, type QuantizedLinear } from './quantized-linear.js';

const LINEAR_BRAND = Symbol.for('@peft/core/Linear');

/** Anything a model can call where it expects a linear layer: a base `Linear` or an adapter wrapping one. */
export interface LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  forward(x: tf.Tensor): tf.Tensor;
}

/**
 * The module-tree leaf for a linear layer. It holds a `QuantizedLinear` (dense or any quantized
 * format) and exposes its logical shape; PEFT methods find these leaves and wrap them.
 */
export class Linear extends Module implements LinearLike {
  readonly [LINEAR_BRAND] = true;
  private current: QuantizedLinear;

  constructor(layer: QuantizedLinear) {
    super();
    assertQuantizedLinear(layer);
    this.current = layer;
  }

  get layer(): QuantizedLinear {
    return this.current;
  }

  get inFeatures(): number {
    return this.current.inFeatures;
  }

  get outFeatures(): number {
    return this.current.outFeatures;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.current.forward(x);
  }

  /** Swaps in a new base layer (e.g. after a merge re-quantized the weight) and disposes the old one. */
  replaceLayer(layer: QuantizedLinear): void {
    assertQuantizedLinear(layer);
    if (layer === this.current) return;
    const old = this.current;
    this.current = layer;
    old.dispose();
  }

  override dispose(): void {
    super.dispose();
    this.current.dispose();
  }
}

/**
 * True for a `Linear` from any copy of @peft/core (a brand, not `instanceof`, so two installed
 * copies of the package still recognise each other's layers).
 */
export function isLinear(module: unknown): module is Linear {
  return (
    typeof module === 'object' &&
    module !== null &&
    (module as Record<symbol, unknown>)[LINEAR_BRAND] === true
  );
}
