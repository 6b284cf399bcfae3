import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { parseVeraConfig, veraConfig, veraConfigToJson } from './config.js';

describe('VeraConfig', () => {
  it("has every PEFT field with PEFT's defaults", () => {
    expect(veraConfig()).toEqual({
      peft_type: 'VERA',
      task_type: null,
      base_model_name_or_path: null,
      revision: null,
      inference_mode: false,
      auto_mapping: null,
      peft_version: null,
      target_modules: null,
      modules_to_save: null,
      layers_to_transform: null,
      layers_pattern: null,
      bias: 'none',
      fan_in_fan_out: false,
      r: 256,
      projection_prng_key: 0,
      save_projection: true,
      vera_dropout: 0,
      d_initial: 0.1,
      init_weights: true,
      projection_prng_mode: 'fma',
    });
  });

  it("writes exactly PEFT's adapter_config.json keys (spec §5.1) and keeps the nofma extension out unless set", () => {
    const json = veraConfigToJson(veraConfig({ r: 32, target_modules: ['q_proj', 'v_proj'] }));
    expect(Object.keys(json).sort()).toEqual(
      [
        'auto_mapping',
        'base_model_name_or_path',
        'bias',
        'd_initial',
        'fan_in_fan_out',
        'inference_mode',
        'init_weights',
        'layers_pattern',
        'layers_to_transform',
        'modules_to_save',
        'peft_type',
        'peft_version',
        'projection_prng_key',
        'r',
        'revision',
        'save_projection',
        'target_modules',
        'task_type',
        'vera_dropout',
      ].sort(),
    );
    expect(veraConfigToJson(veraConfig({ projection_prng_mode: 'nofma' }))['projection_prng_mode']).toBe(
      'nofma',
    );
  });

  it('reads a PEFT-written config (lists deduplicated like PEFT sets) and rejects bad values by field', () => {
    const parsed = parseVeraConfig(
      { peft_type: 'VERA', r: 32, target_modules: ['q_proj', 'q_proj', 'v_proj'], vera_dropout: 0.05 },
      { source: 'adapter_config.json' },
    );
    expect(parsed.target_modules).toEqual(['q_proj', 'v_proj']);
    expect(parsed.vera_dropout).toBe(0.05);
    const bad = (fields: Record<string, unknown>) => () =>
      parseVeraConfig({ peft_type: 'VERA', ...fields }, { source: 'adapter_config.json' });
    expect(bad({ r: 0 })).toThrow(/"r": expected an integer >= 1/);
    expect(bad({ r: 2.5 })).toThrow(ConfigError);
    expect(bad({ bias: 'lora_only' })).toThrow(/"bias": expected one of "none", "all", "vera_only"/);
    expect(bad({ vera_dropout: 1 })).toThrow(/vera_dropout must be below 1/);
    expect(bad({ layers_pattern: 'layers' })).toThrow(/"layers_to_transform" must also be specified/);
    expect(bad({ peft_type: 'LORA' })).toThrow(/"peft_type"/);
    expect(bad({ task_type: 'TRANSLATE' })).toThrow(/"task_type"/);
    expect(bad({ projection_prng_mode: 'fast' })).toThrow(/projection_prng_mode/);
  });
});
