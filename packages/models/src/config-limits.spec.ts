import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { MAX_HIDDEN_LAYERS, MAX_POSITION_EMBEDDINGS, MAX_TENSOR_ELEMENTS } from './config-limits.js';

const SMALL = {
  model_type: 'llama',
  vocab_size: 100,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
};

/** Published shapes, as their config.json files give them (plan works from the config alone, so 70B must parse). */
const PUBLISHED: Record<string, Record<string, unknown>> = {
  'SmolLM2-135M': {
    ...SMALL,
    vocab_size: 49152,
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    max_position_embeddings: 8192,
  },
  'Qwen2.5-0.5B': {
    ...SMALL,
    model_type: 'qwen2',
    vocab_size: 151936,
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    max_position_embeddings: 32768,
  },
  'TinyLlama-1.1B': {
    ...SMALL,
    vocab_size: 32000,
    hidden_size: 2048,
    intermediate_size: 5632,
    num_hidden_layers: 22,
    num_attention_heads: 32,
    num_key_value_heads: 4,
  },
  'Llama-3.2-1B': {
    ...SMALL,
    vocab_size: 128256,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    max_position_embeddings: 131072,
  },
  'Llama-2-7B': {
    ...SMALL,
    vocab_size: 32000,
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    max_position_embeddings: 4096,
  },
  'Llama-2-70B': {
    ...SMALL,
    vocab_size: 32000,
    hidden_size: 8192,
    intermediate_size: 28672,
    num_hidden_layers: 80,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    max_position_embeddings: 4096,
  },
  'Llama-3.1-70B': {
    ...SMALL,
    vocab_size: 128256,
    hidden_size: 8192,
    intermediate_size: 28672,
    num_hidden_layers: 80,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    max_position_embeddings: 131072,
  },
};

describe('config size limits', () => {
  it.each(Object.entries(PUBLISHED))('accepts %s', (_, json) => {
    const config = parseLlamaConfig(json);
    expect(config.numHiddenLayers).toBe(json['num_hidden_layers']);
    expect(config.slidingWindows).toHaveLength(config.numHiddenLayers);
  });

  it('accepts each bound itself', () => {
    expect(parseLlamaConfig({ ...SMALL, num_hidden_layers: MAX_HIDDEN_LAYERS }).numHiddenLayers).toBe(1024);
    expect(
      parseLlamaConfig({ ...SMALL, max_position_embeddings: MAX_POSITION_EMBEDDINGS }).maxPositionEmbeddings,
    ).toBe(2 ** 24);
    // vocab x hidden exactly 2^30.
    expect(parseLlamaConfig({ ...SMALL, vocab_size: MAX_TENSOR_ELEMENTS / 32 }).vocabSize).toBe(2 ** 25);
  });

  it.each([
    [{ num_hidden_layers: 1e5 }, /"num_hidden_layers" is 100000; at most 1024 decoder layers/],
    [{ num_hidden_layers: 1e6 }, /"num_hidden_layers" is 1000000/],
    [{ num_hidden_layers: 1e9 }, /"num_hidden_layers" is 1000000000/],
    [{ num_hidden_layers: MAX_HIDDEN_LAYERS + 1 }, /"num_hidden_layers" is 1025/],
    [{ max_position_embeddings: 1e9 }, /"max_position_embeddings" is 1000000000; positions above 2\^24/],
    [
      { vocab_size: MAX_TENSOR_ELEMENTS / 32 + 1 },
      /"vocab_size" \(33554433\) x "hidden_size" \(32\) = 1073741856 values in model\.embed_tokens\.weight/,
    ],
    [
      { vocab_size: 1e9, hidden_size: 1e9, num_attention_heads: 1e3 },
      /"vocab_size" \(1000000000\) x "hidden_size" \(1000000000\)/,
    ],
    [
      { intermediate_size: 2 ** 26 },
      /"intermediate_size" \(67108864\) x "hidden_size" \(32\) = 2147483648 values in mlp/,
    ],
    [
      { num_attention_heads: 2 ** 20, head_dim: 2 ** 10 },
      /"num_attention_heads" x "head_dim" \(1073741824\) x "hidden_size" \(32\)/,
    ],
    [
      { hidden_size: 2 ** 26, vocab_size: 2, intermediate_size: 2 },
      /"num_attention_heads" x "head_dim" \(67108864\) x "hidden_size" \(67108864\)/,
    ],
    [{ num_key_value_heads: 8 }, /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(8\)/],
    [{ hidden_size: 33 }, /hidden_size 33 is not divisible by num_attention_heads 4/],
    [{ num_hidden_layers: 1.5 }, /"num_hidden_layers" must be a positive integer, got 1\.5/],
    [{ num_hidden_layers: 1e300 }, /"num_hidden_layers" must be a positive integer/],
  ])('rejects %j with a ConfigError naming config.json and the field', (fields, message) => {
    const parse = () => parseLlamaConfig({ ...SMALL, ...fields }, 'model/config.json');
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
    expect(parse).toThrow(/^model\/config\.json: /);
  });
});
