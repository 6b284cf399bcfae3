import { ConfigError } from '@peft/core';
import { pythonPattern } from '../python-pattern.js';
import {
  boolField,
  type ConfigSchema,
  enumField,
  intOrListField,
  jsonObjectField,
  nullableStringField,
  stringListField,
  stringOrListField,
} from './fields.js';
import type { PyJson } from './python-json.js';

/** PEFT's `TaskType` values. */
export const TASK_TYPES = [
  'SEQ_CLS',
  'SEQ_2_SEQ_LM',
  'CAUSAL_LM',
  'TOKEN_CLS',
  'QUESTION_ANS',
  'FEATURE_EXTRACTION',
] as const;

/**
 * The fields every PEFT config inherits from `PeftConfig` and writes to `adapter_config.json`.
 * Field names are PEFT's own (snake_case) so a config reads the same here, in Python and on disk.
 */
export interface PeftConfigFields {
  /** The method, e.g. "VERA" or "LORA"; selects the registered `PeftMethod` when loading. */
  peft_type: string;
  /** One of `TASK_TYPES`, or null (PEFT then writes `auto_mapping`). */
  task_type: string | null;
  /** The base model this adapter was trained on (a Hub id or a path), filled on save when known. */
  base_model_name_or_path: string | null;
  /** The base model's revision, if pinned. */
  revision: string | null;
  /** True in saved configs; an adapter loaded with it is not trainable. */
  inference_mode: boolean;
  /** `{base_model_class, parent_library}` of the model, written when `task_type` is null. */
  auto_mapping: Record<string, PyJson> | null;
  /** The PEFT version that wrote the file; kept as read, null for adapters created here. */
  peft_version: string | null;
}

/** Fields shared by the tuners that adapt linear layers (VeRA, LoRA, ...). */
export interface TunerConfigFields extends PeftConfigFields {
  /**
   * Which modules to adapt: a list of names (a module matches if its path equals an entry or ends
   * with "." + entry), a regular expression string (full match against the path), "all-linear"
   * (every linear layer except the output head), or null (the method's default for the model type).
   */
  target_modules: string[] | string | null;
  /** Modules (matched by path suffix) trained in full and saved with the adapter, e.g. ["lm_head"]. */
  modules_to_save: string[] | null;
  /** Only adapt layers with these indices in the model's layer list. */
  layers_to_transform: number[] | number | null;
  /** Name(s) of the layer list that `layers_to_transform` indexes, e.g. "layers"; null matches any. */
  layers_pattern: string[] | string | null;
  /** Which biases are trained: "none", "all", or only those of adapted layers ("<method>_only"). */
  bias: string;
  /** True if the base weight is stored (in, out); always false for linear layers here (PEFT forces it too). */
  fan_in_fan_out: boolean;
}

/** A parsed adapter config: the common fields plus the method's own. */
export type AdapterConfig = TunerConfigFields;

export function peftConfigSchema(peftType: string): ConfigSchema<PeftConfigFields> {
  return {
    peft_type: enumField([peftType], peftType),
    task_type: {
      ...nullableStringField(null),
      parse(value, field) {
        if (value === null) return null;
        if (typeof value !== 'string' || !(TASK_TYPES as readonly string[]).includes(value)) {
          throw new ConfigError(
            `adapter config field "${field}": expected null or one of ${TASK_TYPES.join(', ')}, got ${JSON.stringify(value)}`,
          );
        }
        return value;
      },
    },
    base_model_name_or_path: nullableStringField(null),
    revision: nullableStringField(null),
    inference_mode: boolField(false),
    auto_mapping: jsonObjectField(),
    peft_version: nullableStringField(null),
  };
}

/** The schema of `TunerConfigFields`; `biasOnly` is the method's "<method>_only" bias value. */
export function tunerConfigSchema(peftType: string, biasOnly: string): ConfigSchema<TunerConfigFields> {
  return {
    ...peftConfigSchema(peftType),
    target_modules: stringOrListField(),
    modules_to_save: stringListField(),
    layers_to_transform: intOrListField(),
    layers_pattern: stringOrListField(),
    bias: enumField(['none', 'all', biasOnly], 'none'),
    fan_in_fan_out: boolField(false),
  };
}

/** The checks PEFT's `__post_init__` makes on the shared tuner fields. */
export function checkTunerConfig(config: TunerConfigFields, source: string): void {
  const pattern = config.layers_pattern;
  const hasPattern = pattern !== null && pattern.length > 0;
  if (hasPattern && config.layers_to_transform === null) {
    throw new ConfigError(
      `${source}: when "layers_pattern" is specified, "layers_to_transform" must also be specified`,
    );
  }
  if (Array.isArray(config.target_modules) && config.target_modules.some((t) => t === '')) {
    throw new ConfigError(`${source}: "target_modules" must not contain an empty string`);
  }
  // A regex is checked now, so a bad one is reported with the file it came from.
  const target = config.target_modules;
  if (typeof target === 'string' && target.toLowerCase() !== 'all-linear') {
    try {
      pythonPattern(target);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
      throw error;
    }
  }
}
