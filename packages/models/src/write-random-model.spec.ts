import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '@peft/core/node';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { checkpointLayout } from './layout.js';
import { loadPretrainedFolder, writeRandomModel } from './node.js';
import { MODEL_PRESETS, modelPreset } from './presets.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { TINY_CONFIGS } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peft-random-model-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TINY = TINY_CONFIGS['qwen2 bias tied theta 1e6']!;

async function logitsOfFolder(folder: string): Promise<Float32Array> {
  const { model } = await loadPretrainedFolder(folder);
  const values = tf.tidy(
    () => model.forward({ inputIds: [[3, 1, 4, 1, 5, 9]] }).logits.dataSync() as Float32Array,
  );
  model.dispose();
  return values;
}

describe('writeRandomModel', () => {
  it('writes a folder loadPretrainedFolder loads and runs, initialised as transformers does', async () => {
    const written = await writeRandomModel(dir, TINY, { seed: 4, dtype: 'float32' });
    expect(written.files).toEqual(['model.safetensors']);
    expect((await readdir(dir)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
    const loaded = await loadPretrainedFolder(dir);
    expect(loaded.tokenizer?.vocabSize).toBe(53);
    expect(loaded.tokenizer?.decode(loaded.tokenizer.encode('ab c'))).toBe('ab c');
    const logits = tf.tidy(() => loaded.model.forward({ inputIds: [[1, 7, 30]] }).logits.dataSync());
    expect(logits.every(Number.isFinite)).toBe(true);
    loaded.model.dispose();

    const source = await openCheckpoint(dir);
    try {
      const embed = new Float32Array((await source.get('model.embed_tokens.weight')).data.slice().buffer);
      const mean = embed.reduce((a, b) => a + b, 0) / embed.length;
      const std = Math.sqrt(embed.reduce((a, b) => a + (b - mean) ** 2, 0) / embed.length);
      expect(Math.abs(std / 0.2 - 1)).toBeLessThan(0.05);
      const norm = new Float32Array(
        (await source.get('model.layers.1.input_layernorm.weight')).data.slice().buffer,
      );
      expect([...norm].every((v) => v === 1)).toBe(true);
      const bias = new Float32Array(
        (await source.get('model.layers.0.self_attn.q_proj.bias')).data.slice().buffer,
      );
      expect([...bias].every((v) => v === 0)).toBe(true);
    } finally {
      await source.close();
    }
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config.torch_dtype).toBe('float32');
  });

  it('shards above maxShardBytes with an index, and the weights do not depend on the sharding', async () => {
    const single = await mkdtemp(join(tmpdir(), 'peft-random-model-'));
    try {
      await writeRandomModel(single, TINY, { seed: 8 });
      const written = await writeRandomModel(dir, TINY, { seed: 8, maxShardBytes: 4000 });
      expect(written.files.length).toBeGreaterThan(2);
      expect(written.files[0]).toBe(
        `model-00001-of-${String(written.files.length).padStart(5, '0')}.safetensors`,
      );
      const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
      expect(index.metadata.total_size).toBe(written.weightBytes);
      expect(new Set(Object.values(index.weight_map))).toEqual(new Set(written.files));
      const config = parseLlamaConfig(TINY);
      const layout = checkpointLayout(config);
      expect(Object.keys(index.weight_map)).toHaveLength(
        layout.tensors.length + layout.linears.reduce((n, l) => n + (l.bias ? 2 : 1), 0),
      );
      expect(written.parameters * 2).toBe(written.weightBytes);
      expect(await logitsOfFolder(dir)).toEqual(await logitsOfFolder(single));

      // Writing unsharded over it removes the shards and the index.
      await writeRandomModel(dir, TINY, { seed: 8 });
      expect((await readdir(dir)).filter((f) => f.includes('safetensors'))).toEqual(['model.safetensors']);
    } finally {
      await rm(single, { recursive: true, force: true });
    }
  });

  it('presets have the published shapes and parameter counts', () => {
    const params = (name: string) => {
      const layout = checkpointLayout(parseLlamaConfig(modelPreset(name)));
      const tensors = layout.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
      return layout.linears.reduce((n, l) => n + l.outFeatures * (l.inFeatures + (l.bias ? 1 : 0)), tensors);
    };
    expect(Object.keys(MODEL_PRESETS)).toEqual([
      'smollm2-135m',
      'qwen2.5-0.5b',
      'tinyllama-1.1b',
      'llama-3.2-1b',
    ]);
    expect(params('smollm2-135m')).toBe(134_515_008);
    expect(params('qwen2.5-0.5b')).toBe(494_032_768);
    expect(params('tinyllama-1.1b')).toBe(1_100_048_384);
    expect(params('llama-3.2-1b')).toBe(1_235_814_400);
    const llama32 = parseLlamaConfig(modelPreset('llama-3.2-1b'));
    expect([llama32.headDim, llama32.ropeScaling.type, llama32.tieWordEmbeddings]).toEqual([
      64,
      'llama3',
      true,
    ]);
    expect(() => modelPreset('gpt2')).toThrow(/unknown model preset "gpt2"/);
  });

  it('streams: memory grows by a few MB while writing a ~100 MB model', async () => {
    const config = {
      model_type: 'llama' as const,
      // Many mid-sized tensors rather than a large embedding: a writer holding one tensor at a time then stays far
      // below the bound (with a 20 MB embedding in a 95 MB model, one tensor alone was at the bound).
      vocab_size: 2000,
      hidden_size: 512,
      intermediate_size: 1536,
      num_hidden_layers: 7,
      num_attention_heads: 8,
      tie_word_embeddings: false,
    };
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const start = used();
    let peak = start;
    const sample = () => {
      peak = Math.max(peak, used());
    };
    const timer = setInterval(sample, 5);
    try {
      const written = await writeRandomModel(dir, config, { dtype: 'float32', onTensor: sample });
      expect(written.weightBytes).toBeGreaterThan(90e6);
      // A third of the model: the largest tensor is 3 MB, but V8 frees written buffers lazily (a run on Node 24
      // peaked at 23.6 MB of garbage and live data together); a writer holding the whole model would pass 95 MB.
      expect(peak - start).toBeLessThan(written.weightBytes / 3);
    } finally {
      clearInterval(timer);
    }
  });
});
