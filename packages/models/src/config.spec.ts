import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { configToJson, llamaConfig, parseLlamaConfig } from './config.js';
import { inverseFrequencies } from './rope.js';

const BASE = {
  model_type: 'llama',
  vocab_size: 100,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
};

describe('parseLlamaConfig', () => {
  it('fills transformers defaults, including those of old configs', () => {
    const c = parseLlamaConfig({ ...BASE, eos_token_id: 2 });
    expect(c.numKeyValueHeads).toBe(4);
    expect(c.headDim).toBe(8);
    expect(c.ropeTheta).toBe(10000);
    expect(c.ropeScaling).toEqual({ type: 'default' });
    expect(c.rmsNormEps).toBe(1e-6);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.qkvBias || c.outputBias || c.mlpBias).toBe(false);
    expect(c.slidingWindows).toEqual([null, null]);
    expect(c.eosTokenIds).toEqual([2]);
  });

  it('reads head_dim, GQA, a list of eos ids and the family differences', () => {
    const c = parseLlamaConfig({ ...BASE, num_key_value_heads: 2, head_dim: 16, eos_token_id: [2, 7] });
    expect([c.numKeyValueHeads, c.headDim]).toEqual([2, 16]);
    expect(c.eosTokenIds).toEqual([2, 7]);
    const qwen = parseLlamaConfig({
      ...BASE,
      model_type: 'qwen2',
      attention_bias: false,
      sliding_window: 4,
      max_window_layers: 1,
    });
    expect([qwen.qkvBias, qwen.outputBias, qwen.mlpBias]).toEqual([true, false, false]);
    // Qwen2 ignores sliding_window unless use_sliding_window is set, then applies it from max_window_layers on.
    expect(qwen.slidingWindows).toEqual([null, null]);
    const windowed = parseLlamaConfig({
      ...BASE,
      model_type: 'qwen2',
      use_sliding_window: true,
      sliding_window: 4,
      max_window_layers: 1,
    });
    expect(windowed.slidingWindows).toEqual([null, 4]);
    const mistral = parseLlamaConfig({ ...BASE, model_type: 'mistral', sliding_window: 4096 });
    expect(mistral.slidingWindows).toEqual([4096, 4096]);
    const llamaBias = parseLlamaConfig({ ...BASE, attention_bias: true, mlp_bias: true });
    expect([llamaBias.qkvBias, llamaBias.outputBias, llamaBias.mlpBias]).toEqual([true, true, true]);
  });

  it('reads transformers 5 rope_parameters', () => {
    const c = parseLlamaConfig({
      ...BASE,
      rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 500000 },
    });
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toEqual({ type: 'linear', factor: 2 });
  });

  it.each([
    [{ ...BASE, model_type: 'gpt2' }, /model_type "gpt2" is not supported/],
    [{ ...BASE, model_type: undefined }, /"model_type" is missing/],
    [{ ...BASE, architectures: ['LlamaModel'] }, /architectures \["LlamaModel"\] is not supported/],
    [{ ...BASE, hidden_size: undefined }, /required field "hidden_size" is missing/],
    [{ ...BASE, num_key_value_heads: 3 }, /multiple of num_key_value_heads/],
    [{ ...BASE, hidden_size: 30 }, /not divisible by num_attention_heads/],
    [{ ...BASE, head_dim: 7 }, /head_dim 7 must be even/],
    [{ ...BASE, vocab_size: -1 }, /"vocab_size" must be a positive integer/],
    [{ ...BASE, hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    [
      { ...BASE, rope_scaling: { rope_type: 'yarn', factor: 4 } },
      /rope_scaling type "yarn" is not supported; supported: default, linear, dynamic, llama3/,
    ],
    [{ ...BASE, rope_scaling: { type: 'linear' } }, /needs a positive number "factor"/],
    [
      { ...BASE, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /needs a positive number "low_freq_factor"/,
    ],
    [{ ...BASE, rope_theta: 0 }, /"rope_theta" must be a positive number/],
    [{ ...BASE, tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/],
    [{ ...BASE, partial_rotary_factor: 0.5 }, /partial_rotary_factor/],
    [[1, 2], /expected a JSON object/],
  ])('rejects %j with a ConfigError', (json, message) => {
    expect(() => parseLlamaConfig(json, 'x/config.json')).toThrow(ConfigError);
    expect(() => parseLlamaConfig(json, 'x/config.json')).toThrow(message);
    expect(() => parseLlamaConfig(json, 'x/config.json')).toThrow(/^x\/config\.json: /);
  });

  it('round-trips through configToJson, keeping fields it does not interpret', () => {
    const c = llamaConfig({
      ...BASE,
      num_key_value_heads: 2,
      quantization_config: { quant_method: 'bitsandbytes' },
    } as never);
    const json = configToJson(c);
    expect(json['quantization_config']).toEqual({ quant_method: 'bitsandbytes' });
    expect(json['architectures']).toEqual(['LlamaForCausalLM']);
    expect({ ...parseLlamaConfig(json), raw: null }).toEqual({ ...c, raw: null });
  });
});

describe('configs of published checkpoints (fields as in their config.json)', () => {
  it('SmolLM-135M: tied, 9 heads over 3 KV heads', () => {
    const c = parseLlamaConfig({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 576,
      intermediate_size: 1536,
      num_hidden_layers: 30,
      num_attention_heads: 9,
      num_key_value_heads: 3,
      vocab_size: 49152,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      rope_scaling: null,
      tie_word_embeddings: true,
      bos_token_id: 0,
      eos_token_id: 0,
    });
    expect([c.headDim, c.numKeyValueHeads, c.tieWordEmbeddings, c.bosTokenId]).toEqual([64, 3, true, 0]);
  });

  it('TinyLlama-1.1B and Llama-3.2-1B (llama3 rope scaling)', () => {
    const tiny = parseLlamaConfig({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 5632,
      num_hidden_layers: 22,
      num_attention_heads: 32,
      num_key_value_heads: 4,
      vocab_size: 32000,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
    });
    expect([tiny.headDim, tiny.ropeTheta]).toEqual([64, 10000]);
    const llama32 = parseLlamaConfig({
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
      rope_theta: 500000.0,
      rope_scaling: {
        factor: 32.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 8192,
        rope_type: 'llama3',
      },
      tie_word_embeddings: true,
      eos_token_id: [128001, 128008, 128009],
      quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
    });
    expect(llama32.ropeScaling.type).toBe('llama3');
    expect(llama32.eosTokenIds).toEqual([128001, 128008, 128009]);
  });

  it('Qwen2.5-0.5B: q/k/v biases, tied, sliding window off', () => {
    const c = parseLlamaConfig({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      max_position_embeddings: 32768,
      max_window_layers: 21,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      use_sliding_window: false,
      tie_word_embeddings: true,
    });
    expect([c.headDim, c.qkvBias, c.outputBias, c.slidingWindows.every((w) => w === null)]).toEqual([
      64,
      true,
      false,
      true,
    ]);
  });
});

describe('inverseFrequencies', () => {
  it('default: 1 / theta^(2i/d)', () => {
    const c = parseLlamaConfig({ ...BASE, rope_theta: 500000 });
    const f = inverseFrequencies(c, 1);
    expect(f).toHaveLength(4);
    for (const [i, v] of f.entries()) expect(v).toBeCloseTo(1 / 500000 ** ((2 * i) / 8), 15);
  });

  it('dynamic only changes frequencies past max_position_embeddings', () => {
    const c = parseLlamaConfig({
      ...BASE,
      max_position_embeddings: 16,
      rope_scaling: { type: 'dynamic', factor: 2 },
    });
    const plain = inverseFrequencies(parseLlamaConfig(BASE), 1);
    expect([...inverseFrequencies(c, 16)]).toEqual([...plain]);
    const longer = inverseFrequencies(c, 32);
    const base = 10000 * (2 * 2 - 1) ** (8 / 6);
    for (const [i, v] of longer.entries()) expect(v).toBeCloseTo(1 / base ** ((2 * i) / 8), 15);
  });

  it('llama3 as Llama-3.2-1B configures it: values computed by hand from the published rule', () => {
    const c = parseLlamaConfig({
      ...BASE,
      hidden_size: 2048,
      num_attention_heads: 32,
      head_dim: 64,
      rope_theta: 500000,
      max_position_embeddings: 131072,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    });
    const f = inverseFrequencies(c, 1);
    expect(f).toHaveLength(32);
    // θ_i = 500000^(-i/32); wavelength 2π/θ_i below 8192/4 = 2048 keeps θ_i, above 8192/1 divides it by
    // 32, in between mixes the two with s = (8192/wavelength − 1) / (4 − 1).
    const expected: [number, number][] = [
      [0, 1],
      [14, 0.003211445994752591], // wavelength 1956: kept
      [15, 0.001290547928209264], // s = 0.592849
      [16, 0.00042955679655936815], // s = 0.281283
      [17, 9.70828780262767e-5], // s = 0.074527
      [18, 1.9461638184831125e-5], // wavelength 10089: θ/32
      [31, 9.41830672543491e-8],
    ];
    for (const [i, value] of expected) expect(f[i]! / value - 1, `θ_${i}`).toBeCloseTo(0, 12);
  });
});
