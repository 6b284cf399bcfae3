import type { TensorSource } from '@peft/core';
import { type LlamaConfig, parseLlamaConfig } from './config.js';
import type { GenerateOptions } from './generate.js';
import { parseGenerationConfig } from './generation-config.js';
import { type LoadOptions, loadLlama } from './load.js';
import type { LlamaForCausalLM } from './model.js';
import { TextTokenizer } from './tokenizer.js';

/** A loaded checkpoint folder: the model and what came with it. */
export interface PretrainedModel {
  readonly model: LlamaForCausalLM;
  readonly config: LlamaConfig;
  /** From `tokenizer.json`, when the folder has one. */
  readonly tokenizer: TextTokenizer | null;
  /** Defaults from `generation_config.json` (empty when absent). */
  readonly generationDefaults: GenerateOptions;
}

/** The files of a checkpoint folder, already read; how a browser (or any non-Node caller) loads one. */
export interface PretrainedFiles {
  /** Where the files came from (a folder path or URL): for error messages, and the model's `nameOrPath`. */
  name?: string;
  /** Parsed `config.json`. */
  config: unknown;
  /** The weights, e.g. from `openSafetensorsBlob` or `parseSafetensors` of @peft/core. */
  source: TensorSource;
  /** Parsed `tokenizer.json`. */
  tokenizer?: unknown;
  /** Parsed `tokenizer_config.json`. */
  tokenizerConfig?: unknown;
  /** Parsed `generation_config.json`. */
  generationConfig?: unknown;
}

/** Builds a model (and tokenizer) from already-read files. */
export async function loadPretrained(
  files: PretrainedFiles,
  options: LoadOptions = {},
): Promise<PretrainedModel> {
  const at = (file: string) => (files.name ? `${files.name}/${file}` : file);
  const config = parseLlamaConfig(files.config, at('config.json'));
  const tokenizer =
    files.tokenizer === undefined
      ? null
      : new TextTokenizer(files.tokenizer, files.tokenizerConfig, at('tokenizer.json'));
  const generationDefaults =
    files.generationConfig === undefined
      ? {}
      : parseGenerationConfig(files.generationConfig, at('generation_config.json'));
  const model = await loadLlama(files.source, config, options);
  if (files.name) model.nameOrPath = files.name;
  return { model, config, tokenizer, generationDefaults };
}
