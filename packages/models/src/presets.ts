import { ConfigError } from '@peft/core';

/**
 * `config.json` of small models people fine-tune, as their model cards publish them (the shapes,
 * norms, RoPE and tying that matter for memory and speed). Token ids are those of the tokenizer
 * `randomTokenizerJson` writes (`<s>` = 1, `</s>` = 2), so a random folder is self-consistent;
 * the real checkpoints number their special tokens differently.
 */
export const MODEL_PRESETS = {
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.041666666666666664,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    max_window_layers: 24,
    sliding_window: 32768,
    use_sliding_window: false,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    hidden_act: 'silu',
    initializer_range: 0.02,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  'tinyllama-1.1b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 5632,
    num_hidden_layers: 22,
    num_attention_heads: 32,
    num_key_value_heads: 4,
    vocab_size: 32000,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    hidden_act: 'silu',
    initializer_range: 0.02,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  'llama-3.2-1b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: {
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    },
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
  },
} as const satisfies Record<string, Record<string, unknown>>;

export type ModelPresetName = keyof typeof MODEL_PRESETS;

/** A copy of a preset's `config.json` object. */
export function modelPreset(name: string): Record<string, unknown> {
  if (!Object.hasOwn(MODEL_PRESETS, name)) {
    throw new ConfigError(
      `unknown model preset ${JSON.stringify(name)}; presets: ${Object.keys(MODEL_PRESETS).join(', ')}`,
    );
  }
  return structuredClone(MODEL_PRESETS[name as ModelPresetName]) as Record<string, unknown>;
}
