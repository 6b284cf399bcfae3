import { fromFloat32, type StateDict, stateDictSource, toFloat32 } from '@peft/core';
import { type LlamaConfig, parseLlamaConfig } from '../config.js';
import { loadLlama } from '../load.js';
import type { LlamaForCausalLM } from '../model.js';
import { randomStateDict } from '../random-model.js';

/** Small configs covering the family's variations; raw `config.json` objects, as a file would hold them. */
export const TINY_CONFIGS: Record<string, Record<string, unknown>> = {
  'llama GQA untied': {
    model_type: 'llama',
    vocab_size: 61,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    initializer_range: 0.2,
  },
  'qwen2 bias tied theta 1e6': {
    model_type: 'qwen2',
    architectures: ['Qwen2ForCausalLM'],
    vocab_size: 53,
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    initializer_range: 0.2,
  },
  'llama tied llama3 scaling, head_dim from config': {
    model_type: 'llama',
    vocab_size: 47,
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 16,
    rope_theta: 10000,
    // With head_dim 16 the wavelengths 2π·10000^(2i/16) fall in all three llama3 bands.
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 32,
    },
    tie_word_embeddings: true,
    initializer_range: 0.2,
  },
  'llama head_dim unlike hidden / heads, llama3 scaling as Llama-3.2': {
    model_type: 'llama',
    vocab_size: 45,
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    // q_proj is [32, 24] and o_proj [24, 32]: head_dim is not hidden_size / num_attention_heads (6).
    head_dim: 8,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
    tie_word_embeddings: true,
    initializer_range: 0.2,
  },
  'llama linear scaling, attention and mlp bias': {
    model_type: 'llama',
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    rope_theta: 500000,
    rope_scaling: { type: 'linear', factor: 4 },
    attention_bias: true,
    mlp_bias: true,
    initializer_range: 0.25,
  },
  'llama dynamic scaling past max_position_embeddings': {
    model_type: 'llama',
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 6,
    rope_theta: 100,
    rope_scaling: { rope_type: 'dynamic', factor: 2 },
    initializer_range: 0.25,
  },
  'mistral sliding window': {
    model_type: 'mistral',
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    sliding_window: 3,
    initializer_range: 0.25,
  },
  'old llama config: no num_key_value_heads, no rope_theta': {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    rms_norm_eps: 1e-6,
    initializer_range: 0.25,
  },
};

/**
 * A random state dict where nothing is trivially 1 or 0: norm weights and biases get random values
 * too, so a test fails if either is ignored.
 */
export function tinyStateDict(config: LlamaConfig, seed: number): StateDict {
  const dict = randomStateDict(config, seed);
  let state = seed * 7919 + 1;
  const next = () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
  for (const [name, tensor] of dict) {
    if (name.endsWith('norm.weight') || name.endsWith('layernorm.weight')) {
      dict.set(
        name,
        fromFloat32(
          toFloat32(tensor).map(() => 0.5 + next()),
          tensor.shape,
        ),
      );
    } else if (name.endsWith('.bias')) {
      dict.set(
        name,
        fromFloat32(
          toFloat32(tensor).map(() => next() - 0.5),
          tensor.shape,
        ),
      );
    }
  }
  return dict;
}

export async function tinyModel(
  name: keyof typeof TINY_CONFIGS | string,
  seed = 1,
): Promise<{ model: LlamaForCausalLM; raw: Record<string, unknown>; dict: StateDict; config: LlamaConfig }> {
  const raw = TINY_CONFIGS[name];
  if (!raw) throw new Error(`no tiny config ${name}`);
  const config = parseLlamaConfig(raw);
  const dict = tinyStateDict(config, seed);
  const model = await loadLlama(stateDictSource(dict, name), config);
  return { model, raw, dict, config };
}

/** max |a - b| / max |b| over all entries. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}
