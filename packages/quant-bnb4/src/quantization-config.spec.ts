import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { bnb4QuantizationConfig, parseBnb4QuantizationConfig } from './quantization-config.js';

// What transformers writes into config.json for BitsAndBytesConfig(load_in_4bit=True,
// bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
// (`to_dict()`, saved with sort_keys=True), as found in `*-bnb-4bit` checkpoints on the Hub.
const HUB_CONFIG = JSON.parse(`{
  "_load_in_4bit": true,
  "_load_in_8bit": false,
  "bnb_4bit_compute_dtype": "bfloat16",
  "bnb_4bit_quant_storage": "uint8",
  "bnb_4bit_quant_type": "nf4",
  "bnb_4bit_use_double_quant": true,
  "llm_int8_enable_fp32_cpu_offload": false,
  "llm_int8_has_fp16_weight": false,
  "llm_int8_skip_modules": null,
  "llm_int8_threshold": 6.0,
  "load_in_4bit": true,
  "load_in_8bit": false,
  "quant_method": "bitsandbytes"
}`);

describe('bnb4QuantizationConfig', () => {
  it('builds exactly what transformers writes, keys in its sorted order', () => {
    const config = bnb4QuantizationConfig({ quantType: 'nf4', doubleQuant: true, computeDtype: 'bfloat16' });
    expect(config).toEqual(HUB_CONFIG);
    expect(Object.keys(config)).toEqual(Object.keys(HUB_CONFIG));
  });

  it('defaults to NF4 with double quantization, float32 compute, uint8 storage', () => {
    expect(bnb4QuantizationConfig()).toMatchObject({
      bnb_4bit_quant_type: 'nf4',
      bnb_4bit_use_double_quant: true,
      bnb_4bit_compute_dtype: 'float32',
      bnb_4bit_quant_storage: 'uint8',
    });
    expect(() => bnb4QuantizationConfig({ quantStorage: 'int4' })).toThrow(ConfigError);
  });
});

describe('parseBnb4QuantizationConfig', () => {
  it('reads a Hub config and round-trips what we build', () => {
    const settings = parseBnb4QuantizationConfig(HUB_CONFIG);
    expect(settings).toEqual({
      quantType: 'nf4',
      doubleQuant: true,
      computeDtype: 'bfloat16',
      quantStorage: 'uint8',
      skipModules: null,
    });
    expect(bnb4QuantizationConfig(settings!)).toEqual(HUB_CONFIG);
  });

  it("fills missing fields with transformers' defaults (FP4, no double quant, float32)", () => {
    expect(parseBnb4QuantizationConfig({ quant_method: 'bitsandbytes', load_in_4bit: true })).toEqual({
      quantType: 'fp4',
      doubleQuant: false,
      computeDtype: 'float32',
      quantStorage: 'uint8',
      skipModules: null,
    });
    expect(
      parseBnb4QuantizationConfig({ quant_method: 'bitsandbytes', _load_in_4bit: true })?.quantType,
    ).toBe('fp4');
  });

  it('returns null for configs that are not bitsandbytes 4-bit', () => {
    expect(parseBnb4QuantizationConfig(undefined)).toBeNull();
    expect(parseBnb4QuantizationConfig({ quant_method: 'gptq', bits: 4 })).toBeNull();
    expect(
      parseBnb4QuantizationConfig({ quant_method: 'bitsandbytes', load_in_8bit: true, load_in_4bit: false }),
    ).toBeNull();
  });

  it('throws a ConfigError naming the malformed field', () => {
    const bad = (patch: Record<string, unknown>) => () =>
      parseBnb4QuantizationConfig({ ...HUB_CONFIG, ...patch });
    expect(bad({ bnb_4bit_quant_type: 'int4' })).toThrow(/bnb_4bit_quant_type "int4"/);
    expect(bad({ bnb_4bit_use_double_quant: 'yes' })).toThrow(/bnb_4bit_use_double_quant/);
    expect(bad({ bnb_4bit_compute_dtype: 'float64' })).toThrow(/bnb_4bit_compute_dtype/);
    expect(bad({ llm_int8_skip_modules: 'lm_head' })).toThrow(/llm_int8_skip_modules/);
    expect(bad({ bnb_4bit_quant_storage: 'int3' })).toThrow(ConfigError);
  });
});
