import type { HostTensor, Module, QuantizedLinear } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { ParseOptions } from './config/fields.js';
import type { AdapterConfig } from './config/peft-config.js';
import type { PyJson } from './config/python-json.js';

/** The versions of the `PeftMethod` contract this bridge understands. */
export const PEFT_METHOD_SPECIFICATION_VERSIONS = ['v1'] as const;
export type PeftMethodSpecificationVersion = (typeof PEFT_METHOD_SPECIFICATION_VERSIONS)[number];

/** What a method may know about a layer it is about to adapt: where it is and its LOGICAL shape. */
export interface TargetLayerInfo {
  /** Dotted path in the model, e.g. "model.layers.0.self_attn.q_proj". */
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/**
 * One adapter on one layer (PEFT's per-layer tuner state for one adapter name). It is a `Module`, so
 * its parameters appear in the model tree and it sees train/eval mode (`this.training`, for dropout).
 */
export interface MethodLayer extends Module {
  /**
   * The layer output with this adapter applied: `result` is what the base layer (and any adapters
   * applied before this one) produced for `x`. Additive methods return `result + delta(x)`.
   */
  apply(x: tf.Tensor, result: tf.Tensor): tf.Tensor;
  /** ΔW in the base layer's logical layout [out, in], for merging; the caller disposes it. */
  deltaWeight(): tf.Tensor2D;
  /**
   * The adapter's saved tensors, keyed as PEFT keys them below the layer path with the adapter
   * name removed (`vera_lambda_b`, `lora_A.weight`), in PEFT's layout. Loading assigns into them.
   */
  stateVariables(): ReadonlyMap<string, tf.Variable>;
}

export interface SharedStateContext<C extends AdapterConfig, S> {
  readonly config: C;
  readonly adapterName: string;
  /** Every layer this adapter will wrap, in model order (already resolved from `target_modules`). */
  readonly targets: readonly TargetLayerInfo[];
  /** The shared state of the method's other adapters on this model, by adapter name. */
  readonly existing: ReadonlyMap<string, S>;
}

export interface LayerContext<C extends AdapterConfig, S> extends TargetLayerInfo {
  readonly config: C;
  readonly adapterName: string;
  /** The base layer as it is now (it changes when a merge re-quantizes it). */
  base(): QuantizedLinear;
  /** This adapter's model-level state from `createSharedState` (undefined if the method has none). */
  readonly shared: S;
}

/**
 * A PEFT method (VeRA, LoRA, ...) as the bridge sees it. The bridge does everything generic: target
 * matching, wrapping, train/eval, enable/disable, several adapters, save/load, merging. The method
 * parses its config, builds per-layer adapters around `QuantizedLinear`s, and owns model-level state.
 *
 * `C` is the parsed config type, `S` the method's per-adapter model-level state (VeRA's projections).
 */
export interface PeftMethod<C extends AdapterConfig = AdapterConfig, S = unknown> {
  /** Contract version, so this interface can evolve as a discriminated union. */
  readonly specificationVersion: PeftMethodSpecificationVersion;
  /** PEFT's `peft_type`, e.g. "VERA", "LORA". */
  readonly peftType: string;
  /** The npm package that provides the method, for messages (e.g. "@peft/vera"). */
  readonly packageName: string;
  /** PEFT's prefix for this method's parameter names, e.g. "vera_lambda_" or "lora_". */
  readonly prefix: string;
  /** The `bias` value that trains only the biases of adapted layers, e.g. "vera_only". */
  readonly biasOnly: string;
  /** `target_modules` used when a config leaves it null, by Hugging Face `model_type`. */
  readonly defaultTargetModules?: Readonly<Record<string, readonly string[]>>;

  /** Fills defaults and checks an `adapter_config.json` object (or a caller's partial config). */
  parseConfig(input: Record<string, unknown>, options: ParseOptions): C;
  /** Every field PEFT writes for this config, with PEFT's names; the bridge sorts and formats it. */
  configToJson(config: C): Record<string, PyJson>;
  /** Refuses an adapter that cannot live next to the existing ones (e.g. a different VeRA PRNG key). */
  checkNewAdapter?(config: C, existing: ReadonlyMap<string, C>): void;

  /** Model-level state for a new adapter (VeRA: `vera_A`/`vera_B`), before any layer is created. */
  createSharedState?(context: SharedStateContext<C, S>): S;
  /** The per-layer adapter. */
  createLayer(context: LayerContext<C, S>): MethodLayer;

  /**
   * Model-level tensors saved with the adapter, keyed below "base_model." (VeRA: "vera_A", "vera_B"),
   * with their shapes. Loading expects exactly these keys in the file.
   */
  sharedStateShapes?(shared: S, config: C): ReadonlyMap<string, readonly number[]>;
  saveSharedState?(shared: S, config: C): Map<string, HostTensor>;
  /** Loads the tensors `sharedStateShapes` named (already checked for presence and shape). */
  loadSharedState?(shared: S, config: C, entries: ReadonlyMap<string, HostTensor>): void;
  /**
   * Model-level keys a file may carry that are ignored for this config, each with the warning to
   * give (VeRA with save_projection false ignores "vera_A"/"vera_B").
   */
  ignoredSharedKeys?(config: C): ReadonlyMap<string, string>;
  /** Releases an adapter's shared state; `remaining` is what the other adapters still hold. */
  disposeSharedState?(shared: S, remaining: readonly S[]): void;
}

/** Any method, whatever its config and state types (for registries and collections). */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds methods of unrelated config/state types.
export type AnyPeftMethod = PeftMethod<any, any>;
