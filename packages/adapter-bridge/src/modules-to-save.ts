import {
  applyToLastAxis,
  DenseLinear,
  Linear,
  type LinearLike,
  Module,
  type QuantizedLinear,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { ModuleDict } from './module-dict.js';

const MODULES_TO_SAVE_BRAND = Symbol.for('@peft/adapter-bridge/ModulesToSaveWrapper');

/**
 * A fully trainable float copy of a linear layer (the copy PEFT's `modules_to_save` trains). The
 * weight is [out, in] as PyTorch stores it, so `weight` / `bias` save under PEFT's key names.
 */
export class TrainableLinear extends Module implements LinearLike {
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1> | null;

  constructor(base: QuantizedLinear) {
    super();
    const w = base.dequantize();
    this.weight = this.registerParameter('weight', tf.variable(w, true)) as tf.Variable<tf.Rank.R2>;
    w.dispose();
    const bias = base.bias;
    this.bias = bias
      ? (this.registerParameter(
          'bias',
          tf.tidy(() => tf.variable(bias.clone(), true)),
        ) as tf.Variable<tf.Rank.R1>)
      : null;
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const y: tf.Tensor2D = tf.matMul(x2d, this.weight, false, true);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  stateVariables(): ReadonlyMap<string, tf.Variable> {
    const vars = new Map<string, tf.Variable>([['weight', this.weight]]);
    if (this.bias) vars.set('bias', this.bias);
    return vars;
  }

  /** A dense base layer holding the trained values (for unloading). */
  toDense(): DenseLinear {
    return new DenseLinear(this.weight, this.bias);
  }
}

/**
 * PEFT's `ModulesToSaveWrapper` for a linear layer: the untouched original (`original_module`) and
 * one trainable copy per adapter (`modules_to_save.<adapter>`). The active adapter's copy runs;
 * the original runs when adapters are disabled or the active adapter has no copy here.
 */
export class ModulesToSaveWrapper extends Module implements LinearLike {
  readonly [MODULES_TO_SAVE_BRAND] = true;
  disabled = false;
  activeAdapters: string[] = [];

  constructor(original: Linear) {
    super();
    this.registerModule('original_module', original);
    this.registerModule('modules_to_save', new ModuleDict<TrainableLinear>());
  }

  get original(): Linear {
    return this.child<Linear>('original_module');
  }

  private get copies(): ModuleDict<TrainableLinear> {
    return this.child<ModuleDict<TrainableLinear>>('modules_to_save');
  }

  get inFeatures(): number {
    return this.original.inFeatures;
  }

  get outFeatures(): number {
    return this.original.outFeatures;
  }

  adapterNames(): string[] {
    return this.copies.keys();
  }

  copy(name: string): TrainableLinear | undefined {
    return this.copies.get(name);
  }

  addAdapter(name: string): TrainableLinear {
    const existing = this.copies.get(name);
    if (existing) return existing;
    const copy = new TrainableLinear(this.original.layer);
    copy.train(this.training);
    this.copies.set(name, copy);
    return copy;
  }

  deleteAdapter(name: string): void {
    const copy = this.copies.get(name);
    if (!copy) return;
    this.setSubmodule('modules_to_save', this.copies.without(name));
    this.activeAdapters = this.activeAdapters.filter((n) => n !== name);
    copy.dispose();
  }

  private activeCopy(): TrainableLinear | undefined {
    if (this.disabled) return undefined;
    for (const name of this.activeAdapters) {
      const copy = this.copies.get(name);
      if (copy) return copy;
    }
    return undefined;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return (this.activeCopy() ?? this.original).forward(x);
  }

  /**
   * The leaf to put back when adapters go away: the active adapter's trained copy as a dense layer,
   * or the original. Disposes everything else; this wrapper must not be used afterwards.
   */
  unload(): Linear {
    const active = this.activeCopy();
    if (!active) {
      for (const [, copy] of this.copies.entries()) copy.dispose();
      return this.original;
    }
    const leaf = new Linear(active.toDense());
    for (const [, copy] of this.copies.entries()) copy.dispose();
    this.original.dispose();
    return leaf;
  }
}

/** True for a `ModulesToSaveWrapper` from any copy of the bridge. */
export function isModulesToSaveWrapper(module: unknown): module is ModulesToSaveWrapper {
  return (
    typeof module === 'object' &&
    module !== null &&
    (module as Record<symbol, unknown>)[MODULES_TO_SAVE_BRAND] === true
  );
}
