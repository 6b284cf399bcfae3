import type { PyJson } from '@peft/adapter-bridge';
import {
  boolField,
  type ConfigSchema,
  checkTunerConfig,
  type FieldSpec,
  floatField,
  intField,
  nullableStringField,
  numberField,
  type ParseOptions,
  parseWithSchema,
  pythonPattern,
  schemaToJson,
  stringOrListField,
  type TunerConfigFields,
  tunerConfigSchema,
  unsupportedField,
} from '@peft/adapter-bridge/method';
import { ConfigError } from '@peft/core';

const PACKAGE = '@peft/lora';

/**
 * LoRA's configuration with PEFT's `LoraConfig` field names and defaults. The fields that matter for
 * linear layers are implemented; every other field PEFT writes is kept at its default and written
 * back (so Python reads the file unchanged), and a non-default value for one of those is refused,
 * naming the field, rather than silently ignored. Shared fields are documented on `TunerConfigFields`.
 */
export interface LoraConfig extends TunerConfigFields {
  peft_type: 'LORA';
  /** Rank of the update B·A. Default 8. */
  r: number;
  /** Numerator of the scaling: alpha / r (or alpha / sqrt(r) with `use_rslora`). Default 8. */
  lora_alpha: number;
  /** Dropout probability on the adapter's input (train mode only). Default 0. */
  lora_dropout: number;
  /** Scale by alpha / sqrt(r) (rank-stabilised LoRA) instead of alpha / r. Default false. */
  use_rslora: boolean;
  /**
   * true: A Kaiming-uniform (as `nn.Linear`), B zeros, so training starts from the base model;
   * "gaussian": A normal with std 1/r, B zeros; false: A and B both random (not a no-op; for tests).
   */
  init_lora_weights: boolean | string;
  /** Modules never adapted: a regex (full match) or names (exact or dotted suffix). */
  exclude_modules: string[] | string | null;
  /** Per-module rank overrides: a key matches a path that ends with it (as a regex); first match wins. */
  rank_pattern: Record<string, number>;
  /** Per-module alpha overrides, matched like `rank_pattern`. */
  alpha_pattern: Record<string, number>;
  /** Written for PEFT compatibility; only the default is supported. */
  megatron_config: PyJson;
  megatron_core: string | null;
  trainable_token_indices: PyJson;
  loftq_config: PyJson;
  eva_config: PyJson;
  corda_config: PyJson;
  lora_ga_config: PyJson;
  use_dora: boolean;
  velora_config: PyJson;
  alora_invocation_tokens: PyJson;
  use_qalora: boolean;
  qalora_group_size: number;
  monteclora_config: PyJson;
  layer_replication: PyJson;
  lora_bias: boolean;
  target_parameters: PyJson;
  use_bdlora: PyJson;
  arrow_config: PyJson;
  kasa_config: PyJson;
  ensure_weight_tying: boolean;
}

export const LORA_PEFT_TYPE = 'LORA';

function initField(): FieldSpec<boolean | string> {
  return {
    defaultValue: () => true,
    parse(value, field) {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && value.toLowerCase() === 'gaussian') return value;
      throw new ConfigError(
        `adapter config field "${field}" = ${JSON.stringify(value)} is not supported by ${PACKAGE} ` +
          '(supported: true, false, "gaussian")',
      );
    },
    toJson: (value) => value,
  };
}

function patternField(kind: 'int' | 'number'): FieldSpec<Record<string, number>> {
  return {
    defaultValue: () => ({}),
    parse(value, field) {
      const ok =
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.values(value).every(
          (v) => typeof v === 'number' && (kind === 'number' || Number.isSafeInteger(v)) && v > 0,
        );
      if (!ok) {
        throw new ConfigError(
          `adapter config field "${field}": expected an object of module patterns to positive ${kind === 'int' ? 'integers' : 'numbers'}, got ${JSON.stringify(value)}`,
        );
      }
      return { ...(value as Record<string, number>) };
    },
    toJson: (value) => ({ ...value }),
  };
}

const tuner = tunerConfigSchema(LORA_PEFT_TYPE, 'lora_only');

export const loraConfigSchema: ConfigSchema<LoraConfig> = {
  ...(tuner as ConfigSchema<TunerConfigFields> as ConfigSchema<Pick<LoraConfig, keyof TunerConfigFields>>),
  r: intField(8, { min: 1 }),
  lora_alpha: numberField(8),
  lora_dropout: floatField(0, { min: 0, max: 1 }),
  use_rslora: boolField(false),
  init_lora_weights: initField(),
  exclude_modules: stringOrListField(),
  rank_pattern: patternField('int'),
  alpha_pattern: patternField('number'),
  megatron_config: unsupportedField(null, PACKAGE),
  megatron_core: nullableStringField('megatron.core'),
  trainable_token_indices: unsupportedField(null, PACKAGE),
  loftq_config: unsupportedField({}, PACKAGE),
  eva_config: unsupportedField(null, PACKAGE),
  corda_config: unsupportedField(null, PACKAGE),
  lora_ga_config: unsupportedField(null, PACKAGE),
  use_dora: unsupportedField(false, PACKAGE) as FieldSpec<boolean>,
  velora_config: unsupportedField(null, PACKAGE),
  alora_invocation_tokens: unsupportedField(null, PACKAGE),
  use_qalora: unsupportedField(false, PACKAGE) as FieldSpec<boolean>,
  qalora_group_size: intField(16),
  monteclora_config: unsupportedField(null, PACKAGE),
  layer_replication: unsupportedField(null, PACKAGE),
  lora_bias: unsupportedField(false, PACKAGE) as FieldSpec<boolean>,
  target_parameters: unsupportedField(null, PACKAGE),
  use_bdlora: unsupportedField(null, PACKAGE),
  arrow_config: unsupportedField(null, PACKAGE),
  kasa_config: unsupportedField(null, PACKAGE),
  ensure_weight_tying: unsupportedField(false, PACKAGE) as FieldSpec<boolean>,
};

/** Parses (with PEFT's defaults and `__post_init__` checks) a config object such as `adapter_config.json`'s. */
export function parseLoraConfig(input: Record<string, unknown>, options: ParseOptions): LoraConfig {
  // PEFT drops a stray runtime_config with a warning; it is never part of a saved config.
  const { runtime_config: _runtime, ...fields } = input;
  const config = parseWithSchema(loraConfigSchema, fields, options);
  checkTunerConfig(config, options.source);
  if (typeof config.target_modules === 'string' && config.layers_to_transform !== null) {
    throw new ConfigError(
      `${options.source}: "layers_to_transform" cannot be used when "target_modules" is a str`,
    );
  }
  if (typeof config.target_modules === 'string' && config.layers_pattern !== null) {
    throw new ConfigError(
      `${options.source}: "layers_pattern" cannot be used when "target_modules" is a str`,
    );
  }
  if (config.lora_dropout >= 1) {
    throw new ConfigError(`${options.source}: lora_dropout must be below 1, got ${config.lora_dropout}`);
  }
  checkPatterns(config, options.source);
  return config;
}

/** Compiles every regex the config holds now, so a bad one is reported with the file it came from. */
function checkPatterns(config: LoraConfig, source: string): void {
  try {
    if (typeof config.exclude_modules === 'string') {
      pythonPattern(config.exclude_modules, { field: 'exclude_modules' });
    }
    for (const key of Object.keys(config.rank_pattern)) patternKeyFor({ [key]: 0 }, '', 'rank_pattern');
    for (const key of Object.keys(config.alpha_pattern)) patternKeyFor({ [key]: 0 }, '', 'alpha_pattern');
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
    throw error;
  }
}

/** A full `LoraConfig` from the fields you set; the rest take PEFT's defaults. */
export function loraConfig(fields: Partial<Omit<LoraConfig, 'peft_type'>> = {}): LoraConfig {
  return parseLoraConfig({ ...fields, peft_type: LORA_PEFT_TYPE }, { source: 'LoraConfig' });
}

export function loraConfigToJson(config: LoraConfig): Record<string, PyJson> {
  return schemaToJson(loraConfigSchema, config);
}

/**
 * PEFT's `get_pattern_key`: the first pattern key that matches the end of `path` (as a regex,
 * `re.match(rf"(.*\.)?({key})$", path)`), if any; matched in linear time like `target_modules`.
 */
export function patternKeyFor(
  patterns: Record<string, number>,
  path: string,
  field = 'rank_pattern',
): string | undefined {
  return Object.keys(patterns).find((key) =>
    pythonPattern(key, { field, wrap: (k) => `(.*\\.)?(${k})` }).fullMatch(path),
  );
}

/** The rank and alpha PEFT uses for the layer at `path` (rank_pattern / alpha_pattern, else r / lora_alpha). */
export function rankAndAlpha(config: LoraConfig, path: string): { r: number; alpha: number } {
  const rKey = patternKeyFor(config.rank_pattern, path, 'rank_pattern');
  const aKey = patternKeyFor(config.alpha_pattern, path, 'alpha_pattern');
  return {
    r: rKey === undefined ? config.r : config.rank_pattern[rKey]!,
    alpha: aKey === undefined ? config.lora_alpha : config.alpha_pattern[aKey]!,
  };
}
