import type { PyJson } from '@peft/adapter-bridge';
import {
  boolField,
  type ConfigSchema,
  checkTunerConfig,
  enumField,
  floatField,
  intField,
  type ParseOptions,
  parseWithSchema,
  schemaToJson,
  type TunerConfigFields,
  tunerConfigSchema,
} from '@peft/adapter-bridge/method';
import { ConfigError } from '@peft/core';

/**
 * VeRA's configuration, field for field PEFT's `VeraConfig` (same snake_case names and defaults), so
 * an `adapter_config.json` reads the same here and in Python. The shared fields (target_modules,
 * layers_to_transform, layers_pattern, modules_to_save, bias, fan_in_fan_out and PEFT's inherited
 * fields) are documented on `TunerConfigFields`.
 */
export interface VeraConfig extends TunerConfigFields {
  peft_type: 'VERA';
  /** Rank of the shared projections. VeRA wants far higher ranks than LoRA (paper Table 1). Default 256. */
  r: number;
  /** Seed of the torch CPU generator that draws `vera_A` then `vera_B` (Kaiming uniform). Default 0. */
  projection_prng_key: number;
  /**
   * Save `vera_A`/`vera_B` with the adapter (default true). When false they are regenerated from
   * `projection_prng_key` on load, which matches PyTorch only on a CPU kernel of the same kind
   * (see `projection_prng_mode`).
   */
  save_projection: boolean;
  /** Dropout probability on the adapter's input (train mode only). Default 0. */
  vera_dropout: number;
  /** Initial value of every `vera_lambda_d` entry; PEFT recommends <= 0.1. Default 0.1. */
  d_initial: number;
  /** True: `vera_lambda_b` = 0 and `vera_lambda_d` = d_initial, so the adapter starts as a no-op. False: ones / randn (for tests). */
  init_weights: boolean;
  /**
   * Not a PEFT field (a peft.js extension): how torch's uniform kernel rounded when Python drew the
   * projections. "fma" (default) matches x86-64 AVX2/AVX512 and most Linux builds; "nofma" matches
   * torch's DEFAULT kernel (`ATEN_CPU_CAPABILITY=default`, CPUs without AVX2). It only matters when
   * projections are regenerated rather than loaded. Written to `adapter_config.json` only when
   * "nofma"; PEFT ignores the unknown key with a warning.
   */
  projection_prng_mode: 'fma' | 'nofma';
}

export const VERA_PEFT_TYPE = 'VERA';

export const veraConfigSchema: ConfigSchema<VeraConfig> = {
  ...(tunerConfigSchema(VERA_PEFT_TYPE, 'vera_only') as ConfigSchema<TunerConfigFields> as ConfigSchema<
    Omit<
      VeraConfig,
      | 'r'
      | 'projection_prng_key'
      | 'save_projection'
      | 'vera_dropout'
      | 'd_initial'
      | 'init_weights'
      | 'projection_prng_mode'
    >
  >),
  r: intField(256, { min: 1 }),
  projection_prng_key: intField(0),
  save_projection: boolField(true),
  vera_dropout: floatField(0, { min: 0, max: 1 }),
  d_initial: floatField(0.1),
  init_weights: boolField(true),
  projection_prng_mode: enumField(['fma', 'nofma'], 'fma'),
};

/** Parses (with PEFT's defaults and checks) a config object such as `adapter_config.json`'s. */
export function parseVeraConfig(input: Record<string, unknown>, options: ParseOptions): VeraConfig {
  const config = parseWithSchema(veraConfigSchema, input, options);
  checkTunerConfig(config, options.source);
  if (config.vera_dropout >= 1) {
    throw new ConfigError(`${options.source}: vera_dropout must be below 1, got ${config.vera_dropout}`);
  }
  return config;
}

/** A full `VeraConfig` from the fields you set; the rest take PEFT's defaults. */
export function veraConfig(fields: Partial<Omit<VeraConfig, 'peft_type'>> = {}): VeraConfig {
  return parseVeraConfig({ ...fields, peft_type: VERA_PEFT_TYPE }, { source: 'VeraConfig' });
}

/** Every field PEFT writes, plus `projection_prng_mode` only when it is not the default. */
export function veraConfigToJson(config: VeraConfig): Record<string, PyJson> {
  const json = schemaToJson(veraConfigSchema, config);
  if (config.projection_prng_mode === 'fma') delete json['projection_prng_mode'];
  return json;
}
