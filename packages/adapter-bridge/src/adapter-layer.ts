import { isLinear, Linear, type LinearLike, Module, type QuantizedLinear } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { BiasOverrideLinear } from './bias-override.js';
import { MergeError } from './errors.js';
import type { MethodLayer } from './method.js';
import { ModuleDict } from './module-dict.js';
import { warn } from './warnings.js';

const ADAPTER_LAYER_BRAND = Symbol.for('@peft/adapter-bridge/AdapterLayer');

/**
 * What the model calls in place of a targeted `Linear` (PEFT's tuner layer): the original leaf as
 * child `base_layer`, one `MethodLayer` per adapter name under `adapters`, and the bookkeeping for
 * active / disabled / merged adapters. The model finds it by name at call time, so it never knows.
 */
export class AdapterLayer extends Module implements LinearLike {
  readonly [ADAPTER_LAYER_BRAND] = true;
  /** Adapters applied by `forward`, in order. */
  activeAdapters: string[] = [];
  /** True while adapters are disabled: `forward` is the base layer alone. */
  disabled = false;
  private mergedNames: string[] = [];
  /** The base layer as it was before the first merge, restored exactly by `unmerge`. */
  private premerge: Linear | null = null;
  private trainedBias: tf.Variable | null = null;

  constructor(base: Linear) {
    super();
    this.registerModule('base_layer', base);
    this.registerModule('adapters', new ModuleDict<MethodLayer>());
  }

  get baseLayer(): Linear {
    return this.child<Linear>('base_layer');
  }

  get base(): QuantizedLinear {
    return this.baseLayer.layer;
  }

  get inFeatures(): number {
    return this.baseLayer.inFeatures;
  }

  get outFeatures(): number {
    return this.baseLayer.outFeatures;
  }

  private get adapterDict(): ModuleDict<MethodLayer> {
    return this.child<ModuleDict<MethodLayer>>('adapters');
  }

  adapterNames(): string[] {
    return this.adapterDict.keys();
  }

  hasAdapter(name: string): boolean {
    return this.adapterDict.has(name);
  }

  adapter(name: string): MethodLayer | undefined {
    return this.adapterDict.get(name);
  }

  addAdapter(name: string, layer: MethodLayer): void {
    layer.train(this.training);
    this.adapterDict.set(name, layer);
  }

  /** Removes and disposes one adapter (unmerging first if it is merged). */
  deleteAdapter(name: string): void {
    const layer = this.adapterDict.get(name);
    if (!layer) return;
    if (this.mergedNames.includes(name)) this.unmerge();
    this.setSubmodule('adapters', this.adapterDict.without(name));
    this.activeAdapters = this.activeAdapters.filter((n) => n !== name);
    layer.dispose();
  }

  get merged(): boolean {
    return this.mergedNames.length > 0;
  }

  get mergedAdapters(): readonly string[] {
    return this.mergedNames;
  }

  forward(x: tf.Tensor): tf.Tensor {
    // As in PEFT: a layer merged while adapters are disabled unmerges on its next call.
    if (this.disabled && this.merged) this.unmerge();
    return tf.tidy(() => {
      let result = this.baseLayer.forward(x);
      if (!this.disabled && !this.merged) {
        for (const name of this.activeAdapters) {
          const layer = this.adapterDict.get(name);
          if (layer) result = layer.apply(x, result);
        }
      }
      // A trained bias belongs to the base layer (as in PEFT, where it is trained in place), so it
      // applies whether adapters are enabled or not.
      if (this.trainedBias && this.base.bias)
        result = tf.add(result, tf.sub(this.trainedBias, this.base.bias));
      return result;
    });
  }

  /**
   * Makes the base layer's bias trainable (PEFT's `bias="all"` / `"<method>_only"`); returns the
   * variable, or null when the base layer has no bias.
   */
  enableTrainableBias(): tf.Variable | null {
    if (this.trainedBias) return this.trainedBias;
    const bias = this.base.bias;
    if (!bias) return null;
    this.trainedBias = tf.tidy(() => tf.variable(bias.clone(), true));
    this.registerParameter('bias', this.trainedBias);
    return this.trainedBias;
  }

  get trainableBias(): tf.Variable | null {
    return this.trainedBias;
  }

  /**
   * Folds the adapters into the base weight: dequantize, add every ΔW, re-quantize in the base's own
   * scheme. The pre-merge base layer is kept so `unmerge` restores it bit for bit.
   */
  merge(adapterNames: readonly string[] = this.activeAdapters): void {
    const toMerge = adapterNames.filter((n) => !this.mergedNames.includes(n) && this.adapterDict.has(n));
    if (toMerge.length === 0) return;
    const original = this.premerge ?? this.baseLayer;
    const all = [...this.mergedNames, ...toMerge];
    if (original.layer.scheme !== 'dense') {
      warn(
        'LOSSY_MERGE',
        `merging adapter(s) ${all.join(', ')} into a ${original.layer.scheme} layer re-quantizes its weight; ` +
          'outputs will differ slightly from the unmerged model (rounding). unmerge() restores the original exactly.',
      );
    }
    const w = tf.tidy(() => {
      let sum: tf.Tensor2D = original.layer.dequantize();
      for (const n of all) sum = tf.add(sum, this.adapterDict.get(n)!.deltaWeight());
      return sum;
    });
    let mergedLayer: QuantizedLinear;
    try {
      assertFinite(
        w,
        `merging adapter(s) ${all.join(', ')} into a ${this.outFeatures}x${this.inFeatures} layer`,
      );
      // Outside tf.tidy: the new layer's tensors must outlive this call.
      mergedLayer = original.layer.requantize(w);
    } finally {
      w.dispose();
    }
    const previous = this.baseLayer;
    this.setSubmodule('base_layer', new Linear(mergedLayer));
    if (this.premerge) previous.dispose();
    else this.premerge = previous;
    this.mergedNames = all;
  }

  /** Restores the base layer exactly as it was before `merge`. */
  unmerge(): void {
    if (!this.premerge) return;
    const mergedLeaf = this.baseLayer;
    this.setSubmodule('base_layer', this.premerge);
    mergedLeaf.dispose();
    this.premerge = null;
    this.mergedNames = [];
  }

  /**
   * The `Linear` to put back in the model when the adapters go away: merged (if `merge` was called)
   * and with the trained bias. Disposes the adapters; this layer must not be used afterwards.
   */
  unload(): Linear {
    let leaf = this.baseLayer;
    if (this.premerge) this.premerge.dispose();
    this.premerge = null;
    if (this.trainedBias && leaf.layer.bias) {
      const replaced = new BiasOverrideLinear(leaf.layer, this.trainedBias as tf.Tensor as tf.Tensor1D);
      // The new leaf owns the old layer now (BiasOverrideLinear delegates and disposes it).
      leaf = new Linear(replaced);
      this.trainedBias.dispose();
    }
    for (const [, layer] of this.adapterDict.entries()) layer.dispose();
    this.trainedBias = null;
    return leaf;
  }

  override dispose(): void {
    super.dispose();
    this.premerge?.dispose();
    this.premerge = null;
  }
}

function assertFinite(w: tf.Tensor, where: string): void {
  const finite = tf.tidy(() => tf.all(tf.isFinite(w)).dataSync()[0]);
  if (!finite) throw new MergeError(`${where}: the merged weight has NaN or Inf values; nothing was changed`);
}

/** True for an `AdapterLayer` from any copy of the bridge (a brand, not `instanceof`). */
export function isAdapterLayer(module: unknown): module is AdapterLayer {
  return (
    typeof module === 'object' &&
    module !== null &&
    (module as Record<symbol, unknown>)[ADAPTER_LAYER_BRAND] === true
  );
}

/** A targeted leaf: a base `Linear`, or an `AdapterLayer` already wrapping one. */
export function isLinearTarget(module: unknown): boolean {
  return isLinear(module) || isAdapterLayer(module);
}
