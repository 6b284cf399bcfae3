import { type HostTensor, type Module, type OptionSpec, PeftError, type QuantizedLinear } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { ParseOptions } from './config/fields.js';
import type { AdapterConfig } from './config/peft-config.js';
import type { PyJson } from './config/python-json.js';

/**
 * The versions of the `PeftMethod` contract this bridge understands. v2 adds what applications need to
 * train with a method (its name, options, default learning rate, parameter counts); v1 methods still
 * load, save and merge adapters.
 */
export const PEFT_METHOD_SPECIFICATION_VERSIONS = ['v1', 'v2'] as const;
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
 * This part is common to every contract version; `PeftMethod` is the union of the versions.
 *
 * `C` is the parsed config type, `S` the method's per-adapter model-level state (VeRA's projections).
 */
export interface PeftMethodBase<C extends AdapterConfig = AdapterConfig, S = unknown> {
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

/** Contract v1: adapters only (load, save, merge). */
export interface PeftMethodV1<C extends AdapterConfig = AdapterConfig, S = unknown>
  extends PeftMethodBase<C, S> {
  readonly specificationVersion: 'v1';
}

/** A method option beyond the generic ones, with the `adapter_config.json` field it sets. */
export interface MethodOptionSpec extends OptionSpec {
  /** PEFT's field name, e.g. "lora_alpha" for the option "loraAlpha". */
  readonly configField: string;
  /**
   * The config field's value for the option's (checked) value, when they differ: LoRA's
   * `initLoraWeights` is a string option ("true" | "false" | "gaussian") for a boolean-or-string field.
   */
  toConfigValue?(value: unknown): unknown;
}

/** A layer an adapter will target, as planning sees it: path, LOGICAL shape and whether it has a bias. */
export interface ParameterCountTarget {
  readonly path: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

/** Sizes of one adapter, for planning a run before any weight is loaded. */
export interface MethodParameterCounts {
  /** Elements an optimizer updates (adapter tensors, plus the targeted layers' biases the config trains). */
  readonly trainable: number;
  /** Elements written to adapter_model.safetensors (trainable ones plus saved frozen state). */
  readonly saved: number;
  /** Elements of frozen model-level buffers held in memory (VeRA's shared vera_A / vera_B). */
  readonly frozenBuffers: number;
}

/** What an application needs to train with a method (contract v2). */
export interface MethodTraining<C extends AdapterConfig = AdapterConfig> {
  /** A learning rate that works for this method out of the box (VeRA 1e-2, LoRA 2e-4). */
  readonly defaultLearningRate: number;
  /** Method options beyond the generic targetModules/bias/layersToTransform/modulesToSave, each mapped to its adapter_config field */
  readonly options: readonly MethodOptionSpec[];
  /** Trainable and saved parameter counts for `plan`, from the targeted layers' logical shapes */
  parameterCounts(config: C, targets: readonly ParameterCountTarget[]): MethodParameterCounts;
}

/** Contract v2: v1 plus a name and what training needs. */
export interface PeftMethodV2<C extends AdapterConfig = AdapterConfig, S = unknown>
  extends PeftMethodBase<C, S> {
  readonly specificationVersion: 'v2';
  /** Command-line and library name, lower case, e.g. "vera", "lora". */
  readonly name: string;
  readonly training: MethodTraining<C>;
}

/** A PEFT method of any contract version this bridge knows. */
export type PeftMethod<C extends AdapterConfig = AdapterConfig, S = unknown> =
  | PeftMethodV1<C, S>
  | PeftMethodV2<C, S>;

/** Any method, whatever its config and state types (for registries and collections). */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds methods of unrelated config/state types.
export type AnyPeftMethod = PeftMethod<any, any>;

/** Any v2 method, whatever its config and state types. */
// biome-ignore lint/suspicious/noExplicitAny: as AnyPeftMethod.
export type AnyTrainingPeftMethod = PeftMethodV2<any, any>;

/** True when the method implements contract v2 or later, so it has a name and training information. */
export function isTrainingCapable(method: AnyPeftMethod): method is AnyTrainingPeftMethod {
  const m = method as Partial<AnyTrainingPeftMethod>;
  return method.specificationVersion !== 'v1' && typeof m.name === 'string' && typeof m.training === 'object';
}

/** A method is used where training information is needed, but its contract version has none. */
export class MethodContractError extends PeftError {
  readonly peftType: string;

  constructor(method: AnyPeftMethod) {
    super(
      'METHOD_CONTRACT',
      `method ${method.peftType} from ${method.packageName} implements contract ${method.specificationVersion}; ` +
        `upgrade it to v2 (add name and training) to use it with peft plan/finetune`,
    );
    this.peftType = method.peftType;
  }
}

/** The method as a v2 method, or a MethodContractError saying it must be upgraded. */
export function requireTrainingCapable(method: AnyPeftMethod): AnyTrainingPeftMethod {
  if (isTrainingCapable(method)) return method;
  throw new MethodContractError(method);
}
