// Small model folders on disk for the output-safety tests of the checkpoint-rewriting commands.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32, type StateDict } from '@peft/core';
import { f16, values, writeFileDict } from './checkpoints.js';

/** Three quantizable weights and a norm: enough to fill two shards. */
export function smallModel(): StateDict {
  return new Map([
    ['model.layers.0.self_attn.q_proj.weight', f16(values(8 * 64, 1), [8, 64])],
    ['model.layers.0.mlp.up_proj.weight', f16(values(16 * 64, 2), [16, 64])],
    ['model.layers.0.input_layernorm.weight', fromFloat32(values(64, 3), [64])],
    ['model.layers.1.self_attn.q_proj.weight', f16(values(8 * 64, 4), [8, 64])],
  ]);
}

const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'] as const;

export interface FolderOptions {
  /** Tensors written into shard 2 that the index does not list. */
  readonly unlisted?: StateDict;
  /** Tensor names the index lists for shard 2 that it does not hold. */
  readonly phantom?: readonly string[];
}

/** `dir` as a sharded Hugging Face folder: two shards, the index, config.json and tokenizer.json. */
export async function shardedModelFolder(dir: string, options: FolderOptions = {}): Promise<StateDict> {
  const all = smallModel();
  const keys = [...all.keys()];
  const parts = [keys.slice(0, 2), keys.slice(2)];
  await mkdir(dir, { recursive: true });
  const weightMap: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const dict: StateDict = new Map(part.map((k) => [k, all.get(k)!]));
    if (i === 1) for (const [k, v] of options.unlisted ?? []) dict.set(k, v);
    await writeFileDict(join(dir, SHARDS[i]!), dict);
    for (const k of part) weightMap[k] = SHARDS[i]!;
  }
  for (const name of options.phantom ?? []) weightMap[name] = SHARDS[1];
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }),
  );
  await writeFile(join(dir, 'config.json'), '{"model_type": "llama", "torch_dtype": "float16"}\n');
  await writeFile(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
  return all;
}

/** `dir` as a single-file folder: model.safetensors and config.json. */
export async function singleFileModelFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileDict(join(dir, 'model.safetensors'), smallModel());
  await writeFile(join(dir, 'config.json'), '{"model_type": "llama", "torch_dtype": "float16"}\n');
}
