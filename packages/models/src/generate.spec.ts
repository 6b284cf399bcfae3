import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from './errors.js';
import { generate } from './generate.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, tinyModel } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

describe('generate', () => {
  let fixture: Awaited<ReturnType<typeof tinyModel>>;
  beforeAll(async () => {
    fixture = await tinyModel('llama GQA untied', 11);
  });
  afterAll(() => fixture.model.dispose());

  // Dynamic RoPE is left out on purpose: past max_position_embeddings its frequencies change with the
  // length, so cached keys keep the rotation they were computed with (as in transformers).
  it.each([
    'llama GQA untied',
    'qwen2 bias tied theta 1e6',
    'mistral sliding window',
    'llama tied llama3 scaling, head_dim from config',
  ])('%s: KV-cache decoding gives the logits of a full recomputation at every step', async (name) => {
    const { model } = await tinyModel(name, 11);
    const sequence = [4, 9, 33, 2, 17, 5, 12, 38];
    const cache = model.createCache(1);
    const prefill = model.forward({ inputIds: [sequence.slice(0, 3)], cache });
    prefill.logits.dispose();
    for (let t = 3; t < sequence.length; t++) {
      const step = model.forward({ inputIds: [[sequence[t]!]], cache });
      const full = model.forward({ inputIds: [sequence.slice(0, t + 1)], logitsToKeep: 1 });
      expect(relativeError(step.logits.dataSync(), full.logits.dataSync())).toBeLessThan(1e-5);
      tf.dispose([step.logits, full.logits]);
    }
    expect(cache.length).toBe(sequence.length);
    cache.dispose();
    model.dispose();
  });

  it('a decoding step moves heads with reshapes: its only transposes are of the cached keys, one per layer', async () => {
    const { model } = fixture;
    const cache = model.createCache(1);
    model.forward({ inputIds: [[4, 9, 33]], cache }).logits.dispose();
    const profile = await tf.profile(() => model.forward({ inputIds: [[2]], cache }).logits.dispose());
    // Rank-4 transposes are the attention's (the cpu backend's head transposes a 2-D row and its logits).
    const perHead = profile.kernels.filter((k) => k.name === 'Transpose' && k.inputShapes[0]?.length === 4);
    expect(perHead).toHaveLength(model.config.numHiddenLayers);
    cache.dispose();
  });

  it('greedy and seeded sampling produce the same tokens with and without the cache', async () => {
    const { model } = fixture;
    const prompt = [1, 7, 3];
    for (const options of [{}, { doSample: true, temperature: 0.9, topK: 20, topP: 0.95, seed: 5 }]) {
      const cached = await generate(model, prompt, { ...options, maxNewTokens: 12, eosTokenId: [] });
      const recomputed = await generate(model, prompt, {
        ...options,
        maxNewTokens: 12,
        eosTokenId: [],
        useCache: false,
      });
      expect(cached.tokens[0]).toHaveLength(12);
      expect(cached.tokens).toEqual(recomputed.tokens);
    }
  });

  it('greedy picks the argmax of the logits of the sequence so far', async () => {
    const { model } = fixture;
    const { tokens } = await generate(model, [2, 5], { maxNewTokens: 4, eosTokenId: [] });
    const sequence = [2, 5];
    for (const token of tokens[0]!) {
      const { logits } = model.forward({ inputIds: [sequence], logitsToKeep: 1 });
      expect(token).toBe(tf.tidy(() => tf.argMax(tf.reshape(logits, [-1])).dataSync()[0]));
      logits.dispose();
      sequence.push(token);
    }
  });

  it('sampling is reproducible for a seed and follows the seed', async () => {
    const { model } = fixture;
    const options = { doSample: true, temperature: 1.5, topK: 0, maxNewTokens: 16, eosTokenId: [] };
    const a = await generate(model, [3], { ...options, seed: 1 });
    const b = await generate(model, [3], { ...options, seed: 1 });
    const c = await generate(model, [3], { ...options, seed: 2 });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('top-k 1 and a tiny top-p both reduce sampling to greedy', async () => {
    const { model } = fixture;
    const greedy = await generate(model, [6, 1], { maxNewTokens: 8, eosTokenId: [] });
    const topK = await generate(model, [6, 1], {
      doSample: true,
      topK: 1,
      seed: 3,
      maxNewTokens: 8,
      eosTokenId: [],
    });
    const topP = await generate(model, [6, 1], {
      doSample: true,
      topK: 0,
      topP: 1e-6,
      seed: 3,
      maxNewTokens: 8,
      eosTokenId: [],
    });
    expect(topK.tokens).toEqual(greedy.tokens);
    expect(topP.tokens).toEqual(greedy.tokens);
  });

  it('stops a row at eos (keeping the eos) and reports why each row stopped', async () => {
    const { model } = fixture;
    const free = await generate(model, [8, 2], { maxNewTokens: 6, eosTokenId: [] });
    const eos = free.tokens[0]![2]!;
    const firstEos = free.tokens[0]!.indexOf(eos);
    const stopped = await generate(model, [8, 2], { maxNewTokens: 6, eosTokenId: eos });
    expect(stopped.tokens[0]).toEqual(free.tokens[0]!.slice(0, firstEos + 1));
    expect(stopped.finishReasons).toEqual(['eos']);
    expect(free.finishReasons).toEqual(['length']);
  });

  it('a batch of prompts of different lengths gives each prompt its own continuation', async () => {
    const { model } = fixture;
    const prompts = [[5, 6, 7, 8, 9], [10], [11, 12, 13]];
    const batched = await generate(model, prompts, { maxNewTokens: 6, eosTokenId: [] });
    for (let i = 0; i < prompts.length; i++) {
      const alone = await generate(model, prompts[i]!, { maxNewTokens: 6, eosTokenId: [] });
      expect(batched.tokens[i]).toEqual(alone.tokens[0]);
    }
  });

  it('does not leak tensors', async () => {
    const { model } = fixture;
    await generate(model, [1, 2], { maxNewTokens: 2 });
    const before = tf.memory().numTensors;
    await generate(model, [[1, 2], [3]], { maxNewTokens: 5, doSample: true, seed: 1, eosTokenId: [] });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad options and prompts with InputError', async () => {
    const { model } = fixture;
    await expect(generate(model, [], {})).rejects.toBeInstanceOf(InputError);
    await expect(generate(model, [[1], []], {})).rejects.toBeInstanceOf(InputError);
    await expect(generate(model, [1], { doSample: true, temperature: 0 })).rejects.toBeInstanceOf(InputError);
    await expect(generate(model, [1], { topP: 1.5 })).rejects.toBeInstanceOf(InputError);
    await expect(generate(model, [1], { maxNewTokens: -1 })).rejects.toBeInstanceOf(InputError);
    await expect(generate(model, [1000], {})).rejects.toThrow(
      /inputIds\[0\]\[0\] = 1000 is outside \[0, 61\)/,
    );
  });
});
