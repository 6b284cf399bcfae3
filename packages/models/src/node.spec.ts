import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  DenseLinear,
  type Linear,
  Module,
  SafetensorsError,
  type StateDict,
  stateDictSource,
} from '@peft/core';
import { openSafetensorsFile, writeSafetensorsFile } from '@peft/core/node';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError } from './errors.js';
import type { LlamaForCausalLM } from './model.js';
import { loadPretrainedFolder, saveModel } from './node.js';
import { loadPretrained } from './pretrained.js';
import { modelStateDict } from './state-dict.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { tinyModel } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peft-models-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const IDS = [[3, 1, 4, 1, 5, 9, 2, 6]];

function logitsOf(model: LlamaForCausalLM): Float32Array {
  const { logits } = model.forward({ inputIds: IDS });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

describe('what the model tells PEFT (PeftModelInfo)', () => {
  it('states its model type, output head, class and origin; loadPretrainedFolder records the folder', async () => {
    const { model } = await tinyModel('llama GQA untied', 1);
    expect({
      modelType: model.modelType,
      outputHeadPath: model.outputHeadPath,
      architecture: model.architecture,
      parentLibrary: model.parentLibrary,
      nameOrPath: model.nameOrPath,
    }).toEqual({
      modelType: 'llama',
      outputHeadPath: 'lm_head',
      architecture: 'LlamaForCausalLM',
      parentLibrary: 'transformers.models.llama.modeling_llama',
      nameOrPath: undefined,
    });
    await saveModel(model, dir, { configOverrides: { _name_or_path: 'org/saved-name' } });
    model.dispose();
    const loaded = await loadPretrainedFolder(dir);
    expect(loaded.model.nameOrPath).toBe(dir);
    loaded.model.dispose();

    const qwen = await tinyModel('qwen2 bias tied theta 1e6', 1);
    expect([qwen.model.modelType, qwen.model.architecture, qwen.model.parentLibrary]).toEqual([
      'qwen2',
      'Qwen2ForCausalLM',
      'transformers.models.qwen2.modeling_qwen2',
    ]);
    qwen.model.dispose();
  });

  it("falls back to the config's _name_or_path when the files have no name", async () => {
    const { model, raw, dict } = await tinyModel('llama GQA untied', 1);
    model.dispose();
    const named = await loadPretrained({
      config: { ...raw, _name_or_path: 'meta-llama/Llama-2-7b-hf' },
      source: stateDictSource(dict, 'memory'),
    });
    expect(named.model.nameOrPath).toBe('meta-llama/Llama-2-7b-hf');
    named.model.dispose();
  });
});

describe('saveModel and loadPretrainedFolder', () => {
  it('round-trip an untied model exactly, with a config transformers reads', async () => {
    const { model } = await tinyModel('llama linear scaling, attention and mlp bias', 3);
    // saveModel creates the folder.
    const target = join(dir, 'new', 'folder');
    await saveModel(model, target, {
      extraFiles: { 'generation_config.json': { do_sample: true, top_k: 5, eos_token_id: 2 } },
    });
    expect((await readdir(target)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
    ]);
    const config = JSON.parse(await readFile(join(target, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      rope_scaling: { type: 'linear', factor: 4 },
      attention_bias: true,
      tie_word_embeddings: false,
    });
    const file = await openSafetensorsFile(join(target, 'model.safetensors'));
    expect(file.metadata?.get('format')).toBe('pt');
    expect(file.keys()).toContain('lm_head.weight');
    expect(file.keys()).toContain('model.layers.0.mlp.down_proj.bias');
    await file.close();

    const loaded = await loadPretrainedFolder(target);
    expect(loaded.tokenizer).toBeNull();
    expect(loaded.generationDefaults).toEqual({ doSample: true, topK: 5, eosTokenId: [2] });
    expect(logitsOf(loaded.model)).toEqual(logitsOf(model));
    model.dispose();
    loaded.model.dispose();
  });

  it('writes no lm_head for tied embeddings, and unties when a merge replaced the head', async () => {
    const { model } = await tinyModel('qwen2 bias tied theta 1e6', 4);
    await saveModel(model, dir);
    let file = await openSafetensorsFile(join(dir, 'model.safetensors'));
    expect(file.keys()).not.toContain('lm_head.weight');
    await file.close();
    const tied = await loadPretrainedFolder(dir);
    expect(logitsOf(tied.model)).toEqual(logitsOf(model));
    tied.model.dispose();

    const head = model.getSubmodule('lm_head') as Linear;
    const merged = tf.tidy(() => tf.add(head.layer.dequantize(), 0.01) as tf.Tensor2D);
    head.replaceLayer(new DenseLinear(merged));
    merged.dispose();
    await saveModel(model, dir);
    file = await openSafetensorsFile(join(dir, 'model.safetensors'));
    expect(file.keys()).toContain('lm_head.weight');
    await file.close();
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).tie_word_embeddings).toBe(false);
    const untied = await loadPretrainedFolder(dir);
    expect(untied.config.tieWordEmbeddings).toBe(false);
    expect(logitsOf(untied.model)).toEqual(logitsOf(model));
    untied.model.dispose();
    model.dispose();
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', async () => {
    const { model } = await tinyModel('llama GQA untied', 5);
    const { tensors, config } = modelStateDict(model);
    const shards: [string, StateDict][] = [
      ['model-00001-of-00002.safetensors', new Map()],
      ['model-00002-of-00002.safetensors', new Map()],
    ];
    const weightMap: Record<string, string> = {};
    [...tensors].forEach(([key, value], i) => {
      const [name, dict] = shards[i % 2]!;
      dict.set(key, value);
      weightMap[key] = name;
    });
    for (const [name, dict] of shards) await writeSafetensorsFile(join(dir, name), dict, { format: 'pt' });
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const loaded = await loadPretrainedFolder(dir);
    expect(logitsOf(loaded.model)).toEqual(logitsOf(model));
    loaded.model.dispose();
    model.dispose();
  });

  it('refuses to save a tree with adapters still in it, leaving the folder as it was', async () => {
    const { model } = await tinyModel('mistral sliding window', 6);
    await saveModel(model, dir);
    const before = await readFile(join(dir, 'model.safetensors'));
    const escaping = saveModel(model, join(dir, 'other'), { extraFiles: { '../escape.json': {} } });
    await expect(escaping).rejects.toThrow(/extra file name "..\/escape.json" must be a plain file name/);
    class Wrapper extends Module {}
    model.setSubmodule('model.layers.1.self_attn.v_proj', new Wrapper());
    const error = await saveModel(model, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(String(error)).toMatch(
      /model.layers.1.self_attn.v_proj is a Wrapper, not a base Linear; merge and unload adapters first/,
    );
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors']);
    model.dispose();
  });

  it('names the folder and file when config or weights are missing or broken', async () => {
    await expect(loadPretrainedFolder(dir)).rejects.toThrow(ConfigError);
    await expect(loadPretrainedFolder(dir)).rejects.toThrow(`${join(dir, 'config.json')}: cannot read`);
    await writeFile(join(dir, 'config.json'), '{"model_type": "llama",');
    await expect(loadPretrainedFolder(dir)).rejects.toThrow(/config.json: invalid JSON/);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    await expect(loadPretrainedFolder(dir)).rejects.toThrow(
      `${dir}/config.json: model_type "bert" is not supported`,
    );
    const { model } = await tinyModel('mistral sliding window', 6);
    await writeFile(join(dir, 'config.json'), JSON.stringify(modelStateDict(model).config));
    await expect(loadPretrainedFolder(dir)).rejects.toBeInstanceOf(SafetensorsError);
    model.dispose();
  });
});
