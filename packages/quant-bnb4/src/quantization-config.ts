// The `quantization_config` entry transformers writes into a bitsandbytes 4-bit model's config.json
// (`BitsAndBytesConfig.to_dict()`), and its parser.
import { ConfigError } from '@peft/core';
import { BNB4_DTYPES, type Bnb4DType, type Bnb4QuantType } from './types.js';

/** The 4-bit settings a `quantization_config` carries. */
export interface Bnb4QuantizationSettings {
  quantType: Bnb4QuantType;
  doubleQuant: boolean;
  /** dtype transformers computes in (`bnb_4bit_compute_dtype`). */
  computeDtype: Bnb4DType;
  /** Storage dtype of the packed bytes (`bnb_4bit_quant_storage`); "uint8" unless made for FSDP. */
  quantStorage: string;
  /** Modules left unquantized (`llm_int8_skip_modules`), or null for transformers' default (lm_head). */
  skipModules: string[] | null;
}

/**
 * Fields of the config that Python requires to be floats; JSON writers that drop the `.0` of an
 * integral float (JavaScript's do) must write these with one, or transformers rejects the config
 * ("llm_int8_threshold must be a float").
 */
export const QUANTIZATION_CONFIG_FLOAT_FIELDS: readonly string[] = ['llm_int8_threshold'];

const QUANT_STORAGES = ['uint8', 'int8', 'float16', 'bfloat16', 'float32', 'float64'];

/**
 * `BitsAndBytesConfig(load_in_4bit=True, ...).to_dict()`, with keys in the sorted order transformers
 * writes to config.json. `llm_int8_threshold` is 6.0 (see QUANTIZATION_CONFIG_FLOAT_FIELDS).
 */
export function bnb4QuantizationConfig(
  settings: Partial<Bnb4QuantizationSettings> = {},
): Record<string, unknown> {
  const s = { ...DEFAULT_SETTINGS, ...settings };
  if (!QUANT_STORAGES.includes(s.quantStorage)) {
    throw new ConfigError(
      `bnb_4bit_quant_storage ${JSON.stringify(s.quantStorage)} is not one of ${QUANT_STORAGES.join(', ')}`,
    );
  }
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: s.computeDtype,
    bnb_4bit_quant_storage: s.quantStorage,
    bnb_4bit_quant_type: s.quantType,
    bnb_4bit_use_double_quant: s.doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: s.skipModules,
    llm_int8_threshold: 6,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}

const DEFAULT_SETTINGS: Bnb4QuantizationSettings = {
  quantType: 'nf4',
  doubleQuant: true,
  computeDtype: 'float32',
  quantStorage: 'uint8',
  skipModules: null,
};

/**
 * Reads the 4-bit settings of a config.json `quantization_config`. Returns `null` when it is not a
 * bitsandbytes 4-bit config (absent, another method, or 8-bit); throws a ConfigError when it claims
 * to be one but a field is malformed. Missing fields take transformers' defaults (note: its default
 * quant type is "fp4", and double quantization is off).
 */
export function parseBnb4QuantizationConfig(config: unknown): Bnb4QuantizationSettings | null {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return null;
  const c = config as Record<string, unknown>;
  if (c['quant_method'] !== 'bitsandbytes') return null;
  const load4 = c['load_in_4bit'] ?? c['_load_in_4bit'];
  if (load4 !== true) return null;

  const quantType = c['bnb_4bit_quant_type'] ?? 'fp4';
  if (quantType !== 'nf4' && quantType !== 'fp4') {
    throw new ConfigError(
      `quantization_config.bnb_4bit_quant_type ${JSON.stringify(quantType)} is not "nf4" or "fp4"`,
    );
  }
  const doubleQuant = c['bnb_4bit_use_double_quant'] ?? false;
  if (typeof doubleQuant !== 'boolean') {
    throw new ConfigError(
      `quantization_config.bnb_4bit_use_double_quant ${JSON.stringify(doubleQuant)} is not a boolean`,
    );
  }
  // transformers accepts "torch.bfloat16"-style strings only via getattr(torch, name); plain names here.
  const computeDtype = c['bnb_4bit_compute_dtype'] ?? 'float32';
  if (!BNB4_DTYPES.includes(computeDtype as Bnb4DType)) {
    throw new ConfigError(
      `quantization_config.bnb_4bit_compute_dtype ${JSON.stringify(computeDtype)} is not one of ${BNB4_DTYPES.join(', ')}`,
    );
  }
  const quantStorage = c['bnb_4bit_quant_storage'] ?? 'uint8';
  if (typeof quantStorage !== 'string' || !QUANT_STORAGES.includes(quantStorage)) {
    throw new ConfigError(
      `quantization_config.bnb_4bit_quant_storage ${JSON.stringify(quantStorage)} is not supported`,
    );
  }
  const skip = c['llm_int8_skip_modules'] ?? null;
  if (skip !== null && !(Array.isArray(skip) && skip.every((m) => typeof m === 'string'))) {
    throw new ConfigError('quantization_config.llm_int8_skip_modules must be a list of module names or null');
  }
  return {
    quantType,
    doubleQuant,
    computeDtype: computeDtype as Bnb4DType,
    quantStorage,
    skipModules: skip as string[] | null,
  };
}
