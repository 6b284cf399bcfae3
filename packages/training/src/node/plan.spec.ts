import { adapterConfigFromOptions } from '@peft/adapter-bridge';
import { modelPreset, parseLlamaConfig } from '@peft/models';
import '@peft/lora';
import '@peft/vera';
import '@peft/quant-bnb4';
import { describe, expect, it } from 'vitest';
import { planFineTuning } from './plan.js';

const config = (preset: string) => parseLlamaConfig(modelPreset(preset), preset);
const vera = adapterConfigFromOptions('vera', { r: 256, targetModules: 'all-linear' });
const lora = adapterConfigFromOptions('lora', { r: 16, targetModules: 'all-linear' });

/**
 * Peak resident set sizes of fine-tuning runs on wasm (two kernel threads) on random-weight folders of these
 * shapes (the runs' own `peakRssBytes`, one or two steps): the estimate must stay within 25%.
 */
const MEASURED = [
  {
    run: 'SmolLM2-135M, NF4, VeRA r256 all-linear, 4 x 256, checkpointing',
    preset: 'smollm2-135m',
    adapter: vera,
    options: { quantize: 'nf4', batchSize: 4, seqLen: 256, gradientCheckpointing: true },
    peakRss: 1_044_340_736,
  },
  {
    run: 'SmolLM2-135M, NF4, VeRA r256 all-linear, 4 x 256, no checkpointing',
    preset: 'smollm2-135m',
    adapter: vera,
    options: { quantize: 'nf4', batchSize: 4, seqLen: 256 },
    peakRss: 4_429_352_960,
  },
  {
    run: 'SmolLM2-135M, NF4, VeRA r256 all-linear, 1 x 128',
    preset: 'smollm2-135m',
    adapter: vera,
    options: { quantize: 'nf4', batchSize: 1, seqLen: 128 },
    peakRss: 1_126_617_088,
  },
  {
    run: 'SmolLM2-135M, NF4, VeRA r256 all-linear, 1 x 64',
    preset: 'smollm2-135m',
    adapter: vera,
    options: { quantize: 'nf4', batchSize: 1, seqLen: 64 },
    peakRss: 823_861_248,
  },
  {
    run: 'SmolLM2-135M, float32, VeRA r256 all-linear, 1 x 64',
    preset: 'smollm2-135m',
    adapter: vera,
    options: { quantize: 'none', batchSize: 1, seqLen: 64 },
    peakRss: 1_166_901_248,
  },
  {
    run: 'TinyLlama-1.1B from a `peft quantize`d NF4 folder, VeRA r256 all-linear, 1 x 512, checkpointing',
    preset: 'tinyllama-1.1b',
    adapter: vera,
    options: { quantize: 'nf4', batchSize: 1, seqLen: 512, gradientCheckpointing: true },
    peakRss: 2_697_494_528,
  },
  {
    run: 'Qwen2.5-0.5B, NF4, LoRA r16 all-linear, 1 x 1024, checkpointing',
    preset: 'qwen2.5-0.5b',
    adapter: lora,
    options: { quantize: 'nf4', batchSize: 1, seqLen: 1024, gradientCheckpointing: true },
    peakRss: 2_064_945_152,
  },
] as const;

describe('plan: training memory on wasm', () => {
  for (const m of MEASURED) {
    it(`estimates the peak resident size within 25% of a measured run: ${m.run}`, () => {
      const total = planFineTuning(config(m.preset), { adapter: m.adapter, ...m.options }).training_memory
        .total;
      expect(total / m.peakRss).toBeGreaterThan(0.75);
      expect(total / m.peakRss).toBeLessThan(1.25);
    });
  }

  it('checkpointing keeps every layer input but only one layer of activations', () => {
    const smol = config('smollm2-135m');
    const run = { adapter: vera, quantize: 'nf4', batchSize: 4, seqLen: 256 };
    const plain = planFineTuning(smol, run).training_memory;
    const checkpointed = planFineTuning(smol, { ...run, gradientCheckpointing: true }).training_memory;
    expect(checkpointed.gradient_checkpointing).toBe(true);
    expect(checkpointed.activations).toBeLessThan(plain.activations / 8);
    expect(checkpointed.base).toBe(plain.base);
  });

  it('counts no packed copies (the dense kernels keep none) and the tied table once', () => {
    const qwen = config('qwen2.5-0.5b');
    const dense = planFineTuning(qwen, { adapter: lora, quantize: 'none' }).training_memory;
    const nf4 = planFineTuning(qwen, { adapter: lora, quantize: 'nf4' }).training_memory;
    expect(dense.packed_weights).toBe(0);
    expect(nf4.packed_weights).toBe(0);
    // 24 layers of q, k, v, o (896 x (896 + 128 + 128 + 896)) and the MLP (3 x 896 x 4864), float32, once.
    expect(dense.base - nf4.base).toBeGreaterThan(0.8 * 4 * 24 * (896 * 2048 + 3 * 896 * 4864));
    // The tied head reads the embedding: the base holds the table once.
    expect(nf4.base).toBeLessThan(4 * 151_936 * 896 + 200e6);
  });

  it('names the largest tensor: attention scores grow with the square of the sequence', () => {
    const smol = config('smollm2-135m');
    const long = planFineTuning(smol, {
      adapter: vera,
      quantize: 'nf4',
      batchSize: 8,
      seqLen: 8192,
    }).training_memory;
    expect(long.largest_tensor_name).toBe('attention scores');
    expect(long.largest_tensor).toBe(4 * 8 * 9 * 8192 * 8192);
    expect(long.wasm_heap).toBeGreaterThan(4 * 1024 ** 3);
  });
});
