import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setWarningHandler } from '@peft/adapter-bridge';
import { fromFloat32, type PeftError } from '@peft/core';
import { openSafetensorsFile, writeSafetensorsFile } from '@peft/core/node';
import { createRandomModel, type LlamaForCausalLM, llamaConfig } from '@peft/models';
import { quantizeFolder, saveModel } from '@peft/models/node';
import '@peft/lora';
import '@peft/quant-bnb4';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { loadAdapterFolder } from './adapters.js';
import { initAdapter } from './init-adapter.js';
import { mergeAdapter } from './merge.js';
import { loadModelFolder } from './model-folder.js';

beforeAll(async () => {
  await useCpuBackend();
  setWarningHandler(() => undefined); // the lossy 4-bit merge warns; that is expected here
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peft-training-merge-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const IDS = [[1, 5, 9, 3, 12, 7, 30, 2]];

async function tinyModel(path: string, config: Record<string, unknown> = {}): Promise<string> {
  const model = await createRandomModel(
    llamaConfig({
      vocab_size: 40,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 64,
      initializer_range: 0.1,
      torch_dtype: 'float32',
      ...config,
    }),
    1,
  );
  try {
    await saveModel(model, path);
  } finally {
    model.dispose();
  }
  await writeFile(join(path, 'special_tokens_map.json'), '{"bos_token": "<s>"}');
  return path;
}

/** A LoRA adapter on q_proj and down_proj whose lora_B is not zero, so merging changes the weights. */
async function loraAdapter(model: string, path: string): Promise<string> {
  await initAdapter({ model, output: path, method: 'lora', r: 4, targetModules: ['q_proj', 'down_proj'] });
  const file = join(path, 'adapter_model.safetensors');
  const weights = await readAll(file);
  let seed = 3;
  for (const [key, tensor] of weights) {
    if (!key.includes('lora_B')) continue;
    const values = Float32Array.from({ length: tensor.shape[0]! * tensor.shape[1]! }, () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32 - 0.5;
    });
    weights.set(key, fromFloat32(values, tensor.shape));
  }
  await writeSafetensorsFile(file, weights, { format: 'pt' });
  return path;
}

async function readAll(path: string) {
  const file = await openSafetensorsFile(path);
  try {
    return await file.readAll();
  } finally {
    await file.close();
  }
}

async function tensorBytes(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [k, v] of await readAll(path))
    out.set(k, `${v.dtype}${JSON.stringify(v.shape)}:${Buffer.from(v.data).toString('hex')}`);
  return out;
}

function logitsOf(model: LlamaForCausalLM): Float32Array {
  const { logits } = model.forward({ inputIds: IDS });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

/** Logits of the base model with the adapter applied (not merged). */
async function adaptedLogits(model: string, adapter: string): Promise<Float32Array> {
  const base = await loadModelFolder(model);
  const peft = await loadAdapterFolder(base.model, adapter);
  try {
    return logitsOf(base.model);
  } finally {
    peft.dispose();
  }
}

async function folderLogits(model: string): Promise<Float32Array> {
  const base = await loadModelFolder(model);
  try {
    return logitsOf(base.model);
  } finally {
    base.model.dispose();
  }
}

function worstDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('mergeAdapter', () => {
  it('a dense folder: computes what base + adapter computes; only the adapted weights change', async () => {
    const model = await tinyModel(join(dir, 'model'));
    const adapter = await loraAdapter(model, join(dir, 'adapter'));
    const output = join(dir, 'merged');
    const report = await mergeAdapter({ model, adapter, output });
    expect(report.mergedLayers.sort()).toEqual([
      'model.layers.0.mlp.down_proj',
      'model.layers.0.self_attn.q_proj',
      'model.layers.1.mlp.down_proj',
      'model.layers.1.self_attn.q_proj',
    ]);
    expect(report.schemes).toEqual({ dense: 4 });
    expect(report.lossy).toBe(false);
    expect(report.written.map((p) => p.slice(output.length + 1)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'special_tokens_map.json',
    ]);

    const expected = await adaptedLogits(model, adapter);
    expect(worstDifference(await folderLogits(output), expected)).toBeLessThan(1e-4);
    // The merge is not a no-op: the base alone computes something else.
    expect(worstDifference(await folderLogits(model), expected)).toBeGreaterThan(1e-3);

    const before = await tensorBytes(join(model, 'model.safetensors'));
    const after = await tensorBytes(join(output, 'model.safetensors'));
    const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
    expect(changed).toEqual(report.mergedLayers.map((p) => `${p}.weight`).sort());
    expect(await readFile(join(output, 'config.json'), 'utf8')).toBe(
      await readFile(join(model, 'config.json'), 'utf8'),
    );
  });

  it('a 4-bit folder from quantizeFolder stays 4-bit with the same quantization_config (lossy)', async () => {
    const dense = await tinyModel(join(dir, 'dense'));
    const model = join(dir, 'nf4');
    await quantizeFolder(dense, model, { quantize: 'nf4' });
    const adapter = await loraAdapter(model, join(dir, 'adapter'));
    const output = join(dir, 'merged');
    const report = await mergeAdapter({ model, adapter, output });
    expect(report.schemes).toEqual({ 'bnb4-nf4': 4 });
    expect(report.lossy).toBe(true);
    const config = (path: string) => readFile(join(path, 'config.json'), 'utf8').then(JSON.parse);
    expect((await config(output)).quantization_config).toEqual((await config(model)).quantization_config);
    const keys = async (path: string) =>
      [...(await tensorBytes(join(path, 'model.safetensors'))).keys()].sort();
    expect(await keys(output)).toEqual(await keys(model));
    // Re-quantizing rounds again: not equal to base + adapter, but far closer to it than the base is.
    const expected = await adaptedLogits(model, adapter);
    const mergedError = worstDifference(await folderLogits(output), expected);
    const baseError = worstDifference(await folderLogits(model), expected);
    expect(mergedError).toBeLessThan(baseError / 2);
  });

  it('refuses an output holding files no model folder has unless overwrite, and the model folder itself', async () => {
    const model = await tinyModel(join(dir, 'model'));
    const adapter = await loraAdapter(model, join(dir, 'adapter'));
    const output = join(dir, 'out');
    await mergeAdapter({ model, adapter, output });
    await writeFile(join(output, 'notes.txt'), 'mine');
    const refused = await mergeAdapter({ model, adapter, output }).catch((e: PeftError) => e);
    expect((refused as PeftError).code).toBe('OUTPUT_EXISTS');
    expect(await readFile(join(output, 'notes.txt'), 'utf8')).toBe('mine');

    await mergeAdapter({ model, adapter, output, overwrite: true });
    expect((await readdir(output)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'special_tokens_map.json',
    ]);

    const before = await readFile(join(model, 'model.safetensors'));
    const self = await mergeAdapter({ model, adapter, output: model, overwrite: true }).catch(
      (e: PeftError) => e,
    );
    expect((self as PeftError).code).toBe('OUTPUT_OVERLAPS_INPUT');
    expect(Buffer.compare(await readFile(join(model, 'model.safetensors')), before)).toBe(0);
    await expect(stat(join(dir, 'missing'))).rejects.toThrow();
    const missing = await mergeAdapter({ model: join(dir, 'missing'), adapter, output }).catch(
      (e: PeftError) => e,
    );
    expect((missing as PeftError).code).toBe('CONFIG_INVALID');
  });
});
