import { ConfigError, isLinear, type Linear, type Module, type StateDict } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import { AdapterLayer, isAdapterLayer } from './adapter-layer.js';
import { assertValidAdapterName } from './adapter-name.js';
import { collectAdapterState } from './adapter-state.js';
import type { AdapterConfig } from './config/peft-config.js';
import { AdapterStateError, TargetModulesError } from './errors.js';
import type { AnyPeftMethod, MethodLayer, TargetLayerInfo } from './method.js';
import { isModulesToSaveWrapper, ModulesToSaveWrapper } from './modules-to-save.js';
import { countParameters, formatParameterSummary, type ParameterCounts } from './parameter-count.js';
import { getPeftMethod } from './registry.js';
import { candidateModules, resolveTargets } from './targets.js';
import { warn } from './warnings.js';

/** A caller's config: at least `peft_type`; other fields default as in PEFT (e.g. `veraConfig({...})`). */
export interface AdapterConfigInput {
  readonly peft_type: string;
}

/**
 * A model with PEFT adapters injected (PEFT's `PeftModel` + `BaseTuner`). The base model tree is
 * changed in place: targeted `Linear` leaves become `AdapterLayer`s, `modules_to_save` leaves become
 * `ModulesToSaveWrapper`s. Call the model as before (`peft.model`); adapters apply transparently.
 *
 * All adapters on one model have the same `peft_type`, as in PEFT.
 */
export class PeftModel {
  private readonly configs = new Map<string, AdapterConfig>();
  private readonly sharedStates = new Map<string, unknown>();
  private active: string[] = [];
  private adaptersDisabled = false;
  /** While adapters are disabled: the variables that were trainable, restored by `enableAdapters`. */
  private trainableBeforeDisable: Set<tf.Variable> | null = null;
  private method: AnyPeftMethod | null = null;
  private released = false;

  private constructor(readonly model: Module) {}

  /** Wraps `model` and injects a first adapter (PEFT's `get_peft_model`). */
  static create(model: Module, config: AdapterConfigInput, adapterName = 'default'): PeftModel {
    const peft = new PeftModel(model);
    peft.addAdapter(adapterName, config);
    return peft;
  }

  /** The method shared by every adapter of this model. */
  get peftMethod(): AnyPeftMethod {
    if (!this.method) throw new AdapterStateError('this PeftModel has no adapters');
    return this.method;
  }

  /** Each adapter's config, as resolved on injection (e.g. "all-linear" expanded, as PEFT stores it). */
  get peftConfig(): ReadonlyMap<string, AdapterConfig> {
    return this.configs;
  }

  get activeAdapters(): readonly string[] {
    return this.active;
  }

  /** The first active adapter (PEFT's `active_adapter`). */
  get activeAdapter(): string {
    const first = this.active[0];
    if (first === undefined) throw new AdapterStateError('no adapter is active');
    return first;
  }

  get adaptersEnabled(): boolean {
    return !this.adaptersDisabled;
  }

  /** The method's state shared by all layers of one adapter (VeRA: its projections). */
  sharedState(adapterName: string): unknown {
    this.requireAdapter(adapterName);
    return this.sharedStates.get(adapterName);
  }

  /** Every adapter layer with its path, in model order. */
  adapterLayers(): [string, AdapterLayer][] {
    return [...this.model.namedModules()].filter((e): e is [string, AdapterLayer] => isAdapterLayer(e[1]));
  }

  /** Every modules-to-save wrapper with its path, in model order. */
  modulesToSaveWrappers(): [string, ModulesToSaveWrapper][] {
    return [...this.model.namedModules()].filter((e): e is [string, ModulesToSaveWrapper] =>
      isModulesToSaveWrapper(e[1]),
    );
  }

  /**
   * Injects another adapter. It is not activated unless it is the first one (as in PEFT); call
   * `setAdapter` to use it. Nothing is changed if any check fails.
   */
  addAdapter(adapterName: string, input: AdapterConfigInput): void {
    this.assertUsable();
    assertValidAdapterName(adapterName);
    if (this.configs.has(adapterName)) {
      throw new AdapterStateError(
        `adapter "${adapterName}" already exists; delete it first or pick another name`,
      );
    }
    const method = getPeftMethod(String(input.peft_type));
    const fields = { ...input } as Record<string, unknown>;
    if (this.method && this.method.peftType !== method.peftType) {
      throw new ConfigError(
        `cannot add a ${method.peftType} adapter to a model whose adapters are ${this.method.peftType}; ` +
          'all adapters of one PeftModel share a peft_type',
      );
    }
    const source = `adapter "${adapterName}" config`;
    const config = method.parseConfig(fields, {
      source,
      onUnknownKey: (key) => warn('UNKNOWN_CONFIG_KEY', `${source}: unknown field "${key}" is ignored`),
    }) as AdapterConfig;
    method.checkNewAdapter?.(config, this.configs);
    const resolved = resolveTargets(this.model, config, method.defaultTargetModules, method.packageName);
    config.target_modules = resolved.targetModules;
    if (config.fan_in_fan_out) {
      warn(
        'FAN_IN_FAN_OUT',
        'fan_in_fan_out is set to true but the target modules are linear layers (weight [out, in]); setting it to false',
      );
      config.fan_in_fan_out = false;
    }
    this.checkBias(config, resolved.paths);
    const saveTargets = this.matchModulesToSave(config);
    const targets: TargetLayerInfo[] = resolved.paths.map((path) => {
      const m = this.model.getSubmodule(path) as Linear | AdapterLayer;
      return { path, inFeatures: m.inFeatures, outFeatures: m.outFeatures };
    });

    const shared = method.createSharedState?.({
      config,
      adapterName,
      targets,
      existing: this.sharedStates,
    });
    this.injectLayers(method, config, adapterName, targets, shared);
    if (config.bias !== 'none') {
      for (const [, layer] of this.adapterLayers()) {
        if (layer.hasAdapter(adapterName)) layer.enableTrainableBias();
      }
    }
    this.wrapModulesToSave(saveTargets, adapterName);

    this.method = method;
    this.configs.set(adapterName, config);
    this.sharedStates.set(adapterName, shared);
    if (this.active.length === 0) this.setAdapter(adapterName);
    else this.refreshTrainable();
  }

  /** Wraps each target (once) and adds the method's layer; on any failure undoes all of it. */
  private injectLayers(
    method: AnyPeftMethod,
    config: AdapterConfig,
    adapterName: string,
    targets: readonly TargetLayerInfo[],
    shared: unknown,
  ): void {
    const created: AdapterLayer[] = [];
    const wrapped: [string, AdapterLayer][] = [];
    try {
      for (const target of targets) {
        let layer = this.model.getSubmodule(target.path);
        if (isLinear(layer)) {
          const wrapper = new AdapterLayer(layer);
          wrapper.train(layer.training);
          wrapper.activeAdapters = [...this.active];
          wrapper.disabled = this.adaptersDisabled;
          this.model.setSubmodule(target.path, wrapper);
          wrapped.push([target.path, wrapper]);
          layer = wrapper;
        }
        const adapterLayer = layer as AdapterLayer;
        const methodLayer: MethodLayer = method.createLayer({
          ...target,
          config,
          adapterName,
          base: () => adapterLayer.base,
          shared,
        });
        adapterLayer.addAdapter(adapterName, methodLayer);
        created.push(adapterLayer);
      }
    } catch (error) {
      for (const layer of created) layer.deleteAdapter(adapterName);
      for (const [path, wrapper] of wrapped) this.model.setSubmodule(path, wrapper.baseLayer);
      if (shared !== undefined) method.disposeSharedState?.(shared, [...this.sharedStates.values()]);
      throw error;
    }
  }

  /** PEFT's ModulesToSaveWrapper around each path (once), with a trainable copy for this adapter. */
  private wrapModulesToSave(paths: readonly string[], adapterName: string): void {
    for (const path of paths) {
      let module = this.model.getSubmodule(path);
      if (isLinear(module)) {
        const wrapper = new ModulesToSaveWrapper(module);
        wrapper.train(module.training);
        wrapper.activeAdapters = [...this.active];
        wrapper.disabled = this.adaptersDisabled;
        this.model.setSubmodule(path, wrapper);
        module = wrapper;
      }
      (module as ModulesToSaveWrapper).addAdapter(adapterName);
    }
  }

  /** Non-targeted biases `bias: "all"` would train must be model variables; a frozen linear bias cannot be. */
  private checkBias(config: AdapterConfig, targetPaths: readonly string[]): void {
    if (config.bias !== 'all') return;
    const targeted = new Set(targetPaths);
    const frozen = candidateModules(this.model)
      .filter(([path, m]) => isLinear(m) && m.layer.bias !== null && !targeted.has(path))
      .map(([path]) => path);
    if (frozen.length > 0) {
      throw new ConfigError(
        `bias "all" would train the biases of linear layers that are not adapted (${frozen.join(', ')}); ` +
          `add them to target_modules or use bias "${this.method?.biasOnly ?? '<method>_only'}"`,
      );
    }
  }

  /** Paths `modules_to_save` selects (PEFT: the path ends with an entry), checked to be linear layers. */
  private matchModulesToSave(config: AdapterConfig): string[] {
    const names = config.modules_to_save;
    if (!names || names.length === 0) return [];
    const paths: string[] = [];
    for (const [path, module] of candidateModules(this.model)) {
      if (!names.some((n) => path.endsWith(n))) continue;
      if (isAdapterLayer(module)) {
        throw new TargetModulesError(`modules_to_save matched "${path}", which an adapter already wraps`);
      }
      if (!isLinear(module) && !isModulesToSaveWrapper(module)) {
        throw new TargetModulesError(
          `modules_to_save matched "${path}", a ${module.constructor.name}; only linear layers can be saved ` +
            'in full here (name the linear layers, e.g. "lm_head" or "score")',
        );
      }
      paths.push(path);
    }
    for (const n of names) {
      if (!paths.some((p) => p.endsWith(n)))
        warn('MODULES_TO_SAVE_UNMATCHED', `modules_to_save entry "${n}" matched no module`);
    }
    return paths;
  }

  /** Makes `names` the active adapter(s), applied in this order (PEFT's `set_adapter`). */
  setAdapter(names: string | readonly string[]): void {
    this.assertUsable();
    const list = typeof names === 'string' ? [names] : [...names];
    for (const n of list) this.requireAdapter(n);
    this.active = list;
    for (const [, layer] of this.adapterLayers()) layer.activeAdapters = [...list];
    for (const [, wrapper] of this.modulesToSaveWrappers()) wrapper.activeAdapters = [...list];
    this.refreshTrainable();
  }

  /** Removes an adapter and frees its tensors; a layer left without adapters gets its base leaf back. */
  deleteAdapter(adapterName: string): void {
    this.assertUsable();
    this.requireAdapter(adapterName);
    for (const [path, layer] of this.adapterLayers()) {
      layer.deleteAdapter(adapterName);
      if (layer.adapterNames().length === 0) this.model.setSubmodule(path, layer.unload());
    }
    for (const [path, wrapper] of this.modulesToSaveWrappers()) {
      wrapper.deleteAdapter(adapterName);
      if (wrapper.adapterNames().length === 0) this.model.setSubmodule(path, wrapper.unload());
    }
    const shared = this.sharedStates.get(adapterName);
    this.sharedStates.delete(adapterName);
    this.configs.delete(adapterName);
    if (shared !== undefined) this.method?.disposeSharedState?.(shared, [...this.sharedStates.values()]);
    const stillActive = this.active.filter((n) => n !== adapterName);
    const first = [...this.configs.keys()][0];
    if (stillActive.length > 0) this.setAdapter(stillActive);
    else if (first !== undefined) this.setAdapter(first);
    else {
      this.active = [];
      this.method = null;
    }
  }

  /**
   * Runs the base model alone until `enableAdapters` (merged adapters are unmerged first, as in PEFT).
   * Nothing is trainable meanwhile (PEFT turns `requires_grad` off): an optimizer step taken while
   * disabled changes no adapter. `enableAdapters` restores exactly the trainable set of before.
   */
  disableAdapters(): void {
    this.assertUsable();
    for (const [, layer] of this.adapterLayers()) {
      layer.unmerge();
      layer.disabled = true;
    }
    for (const [, wrapper] of this.modulesToSaveWrappers()) wrapper.disabled = true;
    if (!this.adaptersDisabled) this.freezeWhileDisabled();
    this.adaptersDisabled = true;
  }

  enableAdapters(): void {
    this.assertUsable();
    for (const [, layer] of this.adapterLayers()) layer.disabled = false;
    for (const [, wrapper] of this.modulesToSaveWrappers()) wrapper.disabled = false;
    const before = this.trainableBeforeDisable;
    if (this.adaptersDisabled && before) {
      for (const [, variable] of this.model.namedParameters()) variable.trainable = before.has(variable);
    }
    this.trainableBeforeDisable = null;
    this.adaptersDisabled = false;
  }

  /** Remembers which variables are trainable, then freezes them all. */
  private freezeWhileDisabled(): void {
    const trainable = this.namedTrainableVariables().map(([, v]) => v);
    this.trainableBeforeDisable = new Set(trainable);
    for (const variable of trainable) variable.trainable = false;
  }

  /**
   * Runs `fn` with adapters disabled and re-enables them afterwards, also when `fn` throws or its
   * promise rejects (PEFT's `with model.disable_adapter():`).
   */
  withAdaptersDisabled<T>(fn: () => T): T {
    const wasDisabled = this.adaptersDisabled;
    this.disableAdapters();
    const restore = () => {
      if (!wasDisabled && !this.released) this.enableAdapters();
    };
    let result: T;
    try {
      result = fn();
    } catch (error) {
      restore();
      throw error;
    }
    if (result instanceof Promise) return result.finally(restore) as T;
    restore();
    return result;
  }

  /** Train mode (dropout active) on the whole model. */
  train(mode = true): this {
    this.model.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Marks exactly the active adapters' tensors trainable (unless loaded for inference), everything else frozen. */
  private refreshTrainable(): void {
    for (const [, variable] of this.model.namedParameters()) variable.trainable = false;
    const trainableAdapters = this.active.filter((n) => !this.configs.get(n)?.inference_mode);
    for (const [, layer] of this.adapterLayers()) {
      for (const name of trainableAdapters) {
        for (const [, v] of layer.adapter(name)?.namedParameters() ?? []) v.trainable = true;
      }
      const wantsBias = trainableAdapters.some(
        (n) => layer.hasAdapter(n) && this.configs.get(n)?.bias !== 'none',
      );
      if (layer.trainableBias) layer.trainableBias.trainable = wantsBias;
    }
    for (const [, wrapper] of this.modulesToSaveWrappers()) {
      for (const name of trainableAdapters) {
        for (const [, v] of wrapper.copy(name)?.namedParameters() ?? []) v.trainable = true;
      }
    }
    if (trainableAdapters.some((n) => this.configs.get(n)?.bias === 'all')) {
      for (const [path, variable] of this.model.namedParameters()) {
        if (path === 'bias' || path.endsWith('.bias')) variable.trainable = true;
      }
    }
    // Changed while disabled (setAdapter, addAdapter): this becomes the set enabling restores.
    if (this.adaptersDisabled) this.freezeWhileDisabled();
  }

  /** The variables an optimizer should update, with their paths in the model tree. */
  namedTrainableVariables(): [string, tf.Variable][] {
    return [...this.model.namedParameters()].filter(([, v]) => v.trainable);
  }

  trainableVariables(): tf.Variable[] {
    return this.namedTrainableVariables().map(([, v]) => v);
  }

  parameterCounts(): ParameterCounts {
    return countParameters(this.model);
  }

  /** `trainable params: X || all params: Y || trainable%: Z`, as PEFT prints it. */
  trainableParametersSummary(): string {
    return formatParameterSummary(this.parameterCounts());
  }

  /**
   * Folds adapters (default: the active ones) into the base weights. Dense bases merge without
   * loss; quantized ones are dequantized, summed and re-quantized (a lossy step, with a warning).
   */
  merge(adapterNames?: readonly string[]): void {
    this.assertUsable();
    const names = adapterNames ? [...adapterNames] : [...this.active];
    for (const n of names) this.requireAdapter(n);
    const layers = this.adapterLayers().map(([, layer]) => layer);
    const pending = (layer: AdapterLayer) =>
      names.filter((n) => layer.hasAdapter(n) && !layer.mergedAdapters.includes(n));
    const merged = [...new Set(layers.flatMap((layer) => layer.mergedAdapters))];
    if (merged.length > 0) {
      // PEFT's check_adapters_to_merge warnings, once for the model rather than once per layer.
      const additional = [...new Set(layers.flatMap(pending))];
      if (additional.length === 0) {
        warn('ALREADY_MERGED', 'All adapters are already merged, nothing to do.');
        return;
      }
      warn(
        'ALREADY_MERGED',
        `Already following adapters were merged ${merged.join(',')}. ` +
          `You are now additionally merging ${additional.join(',')}.`,
      );
    }
    for (const layer of layers) layer.merge(names);
  }

  /** Restores every merged layer exactly as it was before merging. */
  unmerge(): void {
    this.assertUsable();
    for (const [, layer] of this.adapterLayers()) layer.unmerge();
  }

  /** Merges (see `merge`), then puts plain `Linear` leaves back and returns the model. */
  mergeAndUnload(adapterNames?: readonly string[]): Module {
    this.merge(adapterNames);
    return this.unloadAll();
  }

  /** Removes every adapter without merging and returns the model with its original leaves. */
  unload(): Module {
    this.unmerge();
    return this.unloadAll();
  }

  private unloadAll(): Module {
    for (const [path, layer] of this.adapterLayers()) this.model.setSubmodule(path, layer.unload());
    for (const [path, wrapper] of this.modulesToSaveWrappers())
      this.model.setSubmodule(path, wrapper.unload());
    const states = [...this.sharedStates.values()];
    for (let i = 0; i < states.length; i++) {
      if (states[i] !== undefined) this.method?.disposeSharedState?.(states[i], states.slice(i + 1));
    }
    this.configs.clear();
    this.sharedStates.clear();
    this.active = [];
    this.released = true;
    return this.model;
  }

  /** The adapter's tensors under PEFT's checkpoint keys, as PEFT's `get_peft_model_state_dict` returns them. */
  adapterStateDict(adapterName = this.activeAdapter): StateDict {
    return collectAdapterState(this, adapterName);
  }

  /** Frees every adapter tensor and the model's tensors. */
  dispose(): void {
    const states = [...this.sharedStates.values()];
    for (let i = 0; i < states.length; i++) {
      if (states[i] !== undefined) this.method?.disposeSharedState?.(states[i], states.slice(i + 1));
    }
    this.model.dispose();
    this.configs.clear();
    this.sharedStates.clear();
    this.released = true;
  }

  /** Throws unless `adapterName` exists. */
  requireAdapter(adapterName: string): AdapterConfig {
    const config = this.configs.get(adapterName);
    if (!config) {
      throw new AdapterStateError(
        `no adapter named "${adapterName}"; adapters are: ${[...this.configs.keys()].join(', ') || '(none)'}`,
      );
    }
    return config;
  }

  private assertUsable(): void {
    if (this.released) {
      throw new AdapterStateError('this PeftModel was unloaded or disposed; use the returned model instead');
    }
  }
}

/** PEFT's `get_peft_model(model, config, adapter_name)`. */
export function getPeftModel(model: Module, config: AdapterConfigInput, adapterName = 'default'): PeftModel {
  return PeftModel.create(model, config, adapterName);
}
