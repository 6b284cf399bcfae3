import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { loraConfig, loraConfigToJson, parseLoraConfig, rankAndAlpha } from './config.js';

// Every field PEFT's LoraConfig (HEAD 5d602fd) writes to adapter_config.json: its dataclass fields
// without runtime_config, which `to_dict` drops.
const PEFT_LORA_FIELDS = [
  'alora_invocation_tokens',
  'alpha_pattern',
  'arrow_config',
  'auto_mapping',
  'base_model_name_or_path',
  'bias',
  'corda_config',
  'ensure_weight_tying',
  'eva_config',
  'exclude_modules',
  'fan_in_fan_out',
  'inference_mode',
  'init_lora_weights',
  'kasa_config',
  'layer_replication',
  'layers_pattern',
  'layers_to_transform',
  'loftq_config',
  'lora_alpha',
  'lora_bias',
  'lora_dropout',
  'lora_ga_config',
  'megatron_config',
  'megatron_core',
  'modules_to_save',
  'monteclora_config',
  'peft_type',
  'peft_version',
  'qalora_group_size',
  'r',
  'rank_pattern',
  'revision',
  'target_modules',
  'target_parameters',
  'task_type',
  'trainable_token_indices',
  'use_bdlora',
  'use_dora',
  'use_qalora',
  'use_rslora',
  'velora_config',
];

describe('LoraConfig', () => {
  it("has PEFT's defaults for the fields that matter for linear layers", () => {
    const c = loraConfig();
    expect([
      c.r,
      c.lora_alpha,
      c.lora_dropout,
      c.bias,
      c.use_rslora,
      c.init_lora_weights,
      c.fan_in_fan_out,
    ]).toEqual([8, 8, 0, 'none', false, true, false]);
    expect([c.target_modules, c.modules_to_save, c.layers_to_transform, c.layers_pattern]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    expect([c.rank_pattern, c.alpha_pattern, c.loftq_config, c.megatron_core]).toEqual([
      {},
      {},
      {},
      'megatron.core',
    ]);
  });

  it("writes exactly PEFT's field set", () => {
    expect(Object.keys(loraConfigToJson(loraConfig())).sort()).toEqual([...PEFT_LORA_FIELDS].sort());
  });

  it('refuses non-default values of fields it does not implement, naming the field', () => {
    const parse = (fields: Record<string, unknown>) => () =>
      parseLoraConfig({ peft_type: 'LORA', ...fields }, { source: 'adapter_config.json' });
    expect(parse({ use_dora: true })).toThrow(/"use_dora" = true is not supported by @peft\/lora/);
    expect(parse({ lora_bias: true })).toThrow(/"lora_bias"/);
    expect(parse({ init_lora_weights: 'pissa' })).toThrow(/"init_lora_weights" = "pissa" is not supported/);
    expect(parse({ layer_replication: [[0, 4]] })).toThrow(/"layer_replication"/);
    expect(parse({ init_lora_weights: 'Gaussian' })).not.toThrow();
    // A stray runtime_config is dropped, as PEFT does.
    expect(parse({ runtime_config: { ephemeral_gpu_offload: false } })).not.toThrow();
  });

  it("applies PEFT's __post_init__ checks", () => {
    expect(() => loraConfig({ target_modules: '.*q_proj', layers_to_transform: [0] })).toThrow(
      /"layers_to_transform" cannot be used when "target_modules" is a str/,
    );
    expect(() => loraConfig({ layers_pattern: 'layers' })).toThrow(/must also be specified/);
    expect(() => loraConfig({ r: 0 })).toThrow(ConfigError);
    expect(() => loraConfig({ rank_pattern: { q_proj: 0 } })).toThrow(/rank_pattern/);
  });

  it('picks per-layer rank and alpha from rank_pattern / alpha_pattern like get_pattern_key', () => {
    const c = loraConfig({
      r: 8,
      lora_alpha: 16,
      rank_pattern: { 'layers\\.0\\.self_attn\\.q_proj': 2, v_proj: 4 },
      alpha_pattern: { q_proj: 3 },
    });
    expect(rankAndAlpha(c, 'model.layers.0.self_attn.q_proj')).toEqual({ r: 2, alpha: 3 });
    expect(rankAndAlpha(c, 'model.layers.1.self_attn.q_proj')).toEqual({ r: 8, alpha: 3 });
    expect(rankAndAlpha(c, 'model.layers.1.self_attn.v_proj')).toEqual({ r: 4, alpha: 16 });
    // A key must match a whole trailing component, not a partial name.
    expect(rankAndAlpha(c, 'model.layers.1.self_attn.kv_proj')).toEqual({ r: 8, alpha: 16 });
  });

  it('matches rank_pattern / alpha_pattern keys in linear time and refuses lookaround, naming the field', () => {
    // A backtracking engine takes 2^n steps on this key and path; the answer must still be "no match".
    const lookahead = () => loraConfig({ alpha_pattern: { '(.*(?=q))q_proj': 3 } });
    expect(lookahead).toThrow(ConfigError);
    expect(lookahead).toThrow(/LoraConfig: "alpha_pattern".*lookahead/);
    expect(() => loraConfig({ exclude_modules: '(a)\\1' })).toThrow(/"exclude_modules".*backreference/);
    const path = 'model.layers.0.self_attn.q_proj'.repeat(50);
    const safe = loraConfig({ rank_pattern: { '(\\w+\\.?)*!': 2 } });
    expect(rankAndAlpha(safe, path)).toEqual({ r: 8, alpha: 8 });
    expect(rankAndAlpha(safe, `${path}.x!`)).toEqual({ r: 2, alpha: 8 });
  });
});
