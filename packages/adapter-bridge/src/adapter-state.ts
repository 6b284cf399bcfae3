import { fromFloat32, type HostTensor, isFloatDType, type StateDict, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { isAdapterLayer } from './adapter-layer.js';
import { AdapterMismatchError } from './errors.js';
import { isModulesToSaveWrapper } from './modules-to-save.js';
import type { PeftModel } from './peft-model.js';
import { warn } from './warnings.js';

/** Where PEFT's checkpoint keys for the wrapped model start (`PeftModel.base_model.model`). */
export const MODEL_PREFIX = 'base_model.model.';
/** Where model-level method state lives (`PeftModel.base_model`, e.g. `base_model.vera_A`). */
export const BASE_MODEL_PREFIX = 'base_model.';

/** One saved tensor of an adapter that lives in a variable. */
interface VariableSlot {
  readonly key: string;
  /** Older PEFT spellings of the same key that loading also accepts. */
  readonly aliases: readonly string[];
  readonly variable: tf.Variable;
}

/**
 * The adapter's variable-backed tensors with PEFT's checkpoint keys (adapter name removed):
 * per-layer method tensors (`base_model.model.<path>.<name>`), trained biases
 * (`<path>.base_layer.bias`, or the variable's own path for `bias: "all"`), and `modules_to_save`
 * copies (`<path>.weight`, as PEFT >= 0.15 writes them; `<path>.modules_to_save.weight` also loads).
 */
function variableSlots(peft: PeftModel, adapterName: string): VariableSlot[] {
  const config = peft.requireAdapter(adapterName);
  const slots: VariableSlot[] = [];
  const internals: string[] = [];
  for (const [path, module] of peft.model.namedModules()) {
    if (isAdapterLayer(module)) {
      internals.push(`${path}.`);
      const layer = module.adapter(adapterName);
      if (!layer) continue;
      for (const [name, variable] of layer.stateVariables()) {
        slots.push({ key: `${MODEL_PREFIX}${path}.${name}`, aliases: [], variable });
      }
      if (config.bias !== 'none' && module.trainableBias) {
        slots.push({
          key: `${MODEL_PREFIX}${path}.base_layer.bias`,
          aliases: [],
          variable: module.trainableBias,
        });
      }
    } else if (isModulesToSaveWrapper(module)) {
      internals.push(`${path}.`);
      const copy = module.copy(adapterName);
      if (!copy) continue;
      for (const [name, variable] of copy.stateVariables()) {
        slots.push({
          key: `${MODEL_PREFIX}${path}.${name}`,
          aliases: [`${MODEL_PREFIX}${path}.modules_to_save.${name}`],
          variable,
        });
      }
    }
  }
  if (config.bias === 'all') {
    for (const [path, variable] of peft.model.namedParameters()) {
      const isBias = path === 'bias' || path.endsWith('.bias');
      if (isBias && !internals.some((p) => path.startsWith(p))) {
        slots.push({ key: `${MODEL_PREFIX}${path}`, aliases: [], variable });
      }
    }
  }
  return slots;
}

/** The adapter's tensors under PEFT's checkpoint keys, float32, as `save_pretrained` writes them. */
export function collectAdapterState(peft: PeftModel, adapterName: string): StateDict {
  const config = peft.requireAdapter(adapterName);
  const dict: StateDict = new Map();
  for (const slot of variableSlots(peft, adapterName)) {
    dict.set(slot.key, fromFloat32(slot.variable.dataSync() as Float32Array, slot.variable.shape, 'F32'));
  }
  const method = peft.peftMethod;
  const shared = peft.sharedState(adapterName);
  const sharedEntries = method.saveSharedState?.(shared, config) ?? new Map<string, HostTensor>();
  for (const [name, tensor] of sharedEntries) dict.set(`${BASE_MODEL_PREFIX}${name}`, tensor);
  return dict;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Checks a checkpoint against the adapter `adapterName` (already injected) and loads it. Every key
 * and shape is checked before anything is assigned; all problems (missing, unexpected, wrong shape,
 * non-float dtype, NaN/Inf values) are reported together, naming each tensor.
 */
export function loadAdapterState(
  peft: PeftModel,
  adapterName: string,
  state: StateDict,
  source: string,
): void {
  const config = peft.requireAdapter(adapterName);
  const method = peft.peftMethod;
  const shared = peft.sharedState(adapterName);
  const slots = variableSlots(peft, adapterName);
  const sharedShapes = method.sharedStateShapes?.(shared, config) ?? new Map<string, readonly number[]>();
  const ignored = method.ignoredSharedKeys?.(config) ?? new Map<string, string>();

  const problems: string[] = [];
  const consumed = new Set<string>();
  const check = (
    key: string,
    expectedShape: readonly number[],
    found: HostTensor | undefined,
    foundKey: string,
  ) => {
    if (!found) {
      problems.push(`missing tensor "${key}" (expected shape ${shapeText(expectedShape)})`);
      return undefined;
    }
    consumed.add(foundKey);
    if (!isFloatDType(found.dtype)) {
      problems.push(`tensor "${foundKey}" has dtype ${found.dtype}, expected a floating dtype`);
      return undefined;
    }
    const same =
      found.shape.length === expectedShape.length && found.shape.every((d, i) => d === expectedShape[i]);
    if (!same) {
      problems.push(
        `tensor "${foundKey}" has shape ${shapeText(found.shape)}, the model expects ${shapeText(expectedShape)}`,
      );
      return undefined;
    }
    const values = toFloat32(found);
    const bad = firstNonFinite(values);
    if (bad >= 0) {
      problems.push(`tensor "${foundKey}" has a non-finite value ${values[bad]} at flat index ${bad}`);
      return undefined;
    }
    return values;
  };

  const assignments: [tf.Variable, Float32Array][] = [];
  for (const slot of slots) {
    const foundKey = [slot.key, ...slot.aliases].find((k) => state.has(k)) ?? slot.key;
    const values = check(slot.key, slot.variable.shape, state.get(foundKey), foundKey);
    if (values) assignments.push([slot.variable, values]);
  }
  const sharedEntries = new Map<string, HostTensor>();
  for (const [name, shape] of sharedShapes) {
    const key = `${BASE_MODEL_PREFIX}${name}`;
    const found = state.get(key);
    if (check(key, shape, found, key) && found) sharedEntries.set(name, found);
  }
  for (const [name, message] of ignored) {
    const key = `${BASE_MODEL_PREFIX}${name}`;
    if (state.has(key)) {
      consumed.add(key);
      warn('IGNORED_TENSOR', `${source}: "${key}" is ignored: ${message}`);
    }
  }
  for (const key of state.keys()) {
    if (!consumed.has(key))
      problems.push(`unexpected tensor "${key}" (no such adapter tensor in this model)`);
  }
  if (problems.length > 0) throw new AdapterMismatchError(source, problems);

  for (const [variable, values] of assignments) {
    const t = tf.tensor(values, variable.shape);
    variable.assign(t);
    t.dispose();
  }
  if (sharedShapes.size > 0) method.loadSharedState?.(shared, config, sharedEntries);
}
