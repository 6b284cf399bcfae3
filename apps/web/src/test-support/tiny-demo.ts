// A small stand-in for the demo's base model, with the demo's real tokenizer and data rows: fast enough for
// Node tests of the whole run. The base model itself is exercised in the browser end-to-end test.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRandomModel, llamaConfig, TextTokenizer } from '@peft/models';
import { parseJsonl } from '@peft/training';
import type { RunInputs } from '../finetune/run.js';

/** The demo's committed assets (apps/cli/assets/demo), read from the repository, never from shared data. */
export const DEMO_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'cli',
  'assets',
  'demo',
);

export function demoFile(name: string): string {
  return readFileSync(join(DEMO_DIR, name), 'utf8');
}

export function demoTokenizer(): TextTokenizer {
  return new TextTokenizer(
    JSON.parse(demoFile('base-model/tokenizer.json')),
    JSON.parse(demoFile('base-model/tokenizer_config.json')),
  );
}

export const TINY_CONFIG = llamaConfig({
  vocab_size: 1024,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  bos_token_id: 1,
  eos_token_id: 2,
});

export async function tinyDemoInputs(rows = { train: 96, eval: 12 }): Promise<RunInputs> {
  return {
    model: await createRandomModel(TINY_CONFIG, 7),
    tokenizer: demoTokenizer(),
    train: parseJsonl(demoFile('finetune-train.jsonl')).slice(0, rows.train),
    eval: parseJsonl(demoFile('finetune-eval.jsonl')).slice(0, rows.eval),
  };
}
