// Tiny Hugging Face model folders (random Llama weights + a character-level tokenizer.json) and JSONL
// files for the fine-tuning command tests.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setWarningHandler } from '@peft/adapter-bridge';
import { setupBackend } from '@peft/backends';
import { createRandomModel, type LlamaConfigInput, llamaConfig, llamaTokenizerJson } from '@peft/models';
import { saveModel } from '@peft/models/node';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz.,';

/**
 * A Llama-style tokenizer.json (as transformers' LlamaConverter lays one out): "▁" for spaces, BOS
 * added by the post-processor, one token per character (a BPE without merges). Ids: 0 <unk>, 1 <s>,
 * 2 </s>, 3 "▁", then the letters.
 */
export function charTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3 };
  for (const c of LETTERS) vocab[c] = Object.keys(vocab).length;
  return llamaTokenizerJson({ vocab, merges: [], byteFallback: false });
}

/** The tokenizer's vocabulary size (special tokens, "▁" and the letters). */
export const CHAR_VOCAB = 4 + LETTERS.length;

export const TINY_CONFIG: LlamaConfigInput = {
  vocab_size: 40,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  bos_token_id: 1,
  eos_token_id: 2,
  initializer_range: 0.1,
  torch_dtype: 'float32',
};

export interface TinyFolderOptions {
  seed?: number;
  /** Fields over `TINY_CONFIG`, e.g. another hidden size ("another model"). */
  config?: Partial<LlamaConfigInput>;
  /** Leave tokenizer.json out. */
  noTokenizer?: boolean;
}

/** Writes a random tiny Llama folder (config.json, model.safetensors, tokenizer.json, generation_config.json). */
export async function writeTinyModel(dir: string, options: TinyFolderOptions = {}): Promise<string> {
  const config = llamaConfig({ ...TINY_CONFIG, ...options.config } as LlamaConfigInput);
  const model = await createRandomModel(config, options.seed ?? 1);
  try {
    await saveModel(model, dir, {
      extraFiles: { 'generation_config.json': { bos_token_id: 1, eos_token_id: 2 } },
    });
  } finally {
    model.dispose();
  }
  if (!options.noTokenizer) {
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(charTokenizerJson()));
    await writeFile(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ add_bos_token: true, legacy: true }),
    );
  }
  return dir;
}

export const SENTENCES = [
  'the cat sat on the mat.',
  'a dog ran in the park.',
  'the sun is warm, the sky is blue.',
  'we like to read and to play.',
  'it is a good day.',
  'the bird can sing.',
];

/** Writes JSONL rows; each row is an object or a raw line. */
export async function writeJsonl(path: string, rows: readonly (object | string)[]): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, `${rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`);
  return path;
}

export const textRows = (sentences: readonly string[] = SENTENCES) => sentences.map((text) => ({ text }));

/** The wasm backend (what `auto` picks in Node) for in-process runs, and quiet bridge warnings. */
export async function useBackendForTests(): Promise<void> {
  await setupBackend('wasm');
  setWarningHandler(() => undefined);
}
