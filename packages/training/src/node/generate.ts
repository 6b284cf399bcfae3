// Text generation from a model folder (with an adapter folder, if given).
import type { PeftModel } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import { type FinishReason, type GenerateOptions, generate } from '@peft/models';
import { loadAdapterFolder } from './adapters.js';
import { type BackendOptions, ensureBackend } from './finetune.js';
import { loadModelFolder, type QuantizeOptions } from './model-folder.js';

export interface GenerateTextOptions extends QuantizeOptions, BackendOptions {
  /** The Hugging Face model folder. */
  model: string;
  prompt: string;
  /** A PEFT adapter folder to apply. */
  adapter?: string;
  /** Default: generation_config.json's, else 20. */
  maxNewTokens?: number;
  /** 0 means greedy; any positive value samples (default: generation_config.json, else greedy). */
  temperature?: number;
  /** Setting it turns sampling on. */
  topK?: number;
  /** Setting it turns sampling on. */
  topP?: number;
  /** Seed of the sampling stream (default 0). */
  seed?: number;
}

export interface GeneratedText {
  readonly prompt: string;
  /** The prompt and its continuation, decoded together (so spacing at the seam is right). */
  readonly text: string;
  /** What the model added. */
  readonly completion: string;
  /** The new token ids. */
  readonly tokens: number[];
  readonly finishReason: FinishReason;
  readonly sampled: boolean;
}

/** Sampling settings from explicit options over the folder's generation_config.json. */
export function samplingOptions(
  options: Omit<GenerateTextOptions, 'model' | 'prompt'>,
  defaults: GenerateOptions,
): GenerateOptions {
  const wantsSampling =
    (options.temperature !== undefined && options.temperature > 0) ||
    options.topK !== undefined ||
    options.topP !== undefined;
  const doSample = options.temperature === 0 ? false : wantsSampling || (defaults.doSample ?? false);
  const result: GenerateOptions = { ...defaults, doSample };
  if (options.maxNewTokens !== undefined) result.maxNewTokens = options.maxNewTokens;
  if (options.temperature !== undefined && options.temperature > 0) result.temperature = options.temperature;
  if (options.topK !== undefined) result.topK = options.topK;
  if (options.topP !== undefined) result.topP = options.topP;
  result.seed = options.seed ?? 0;
  return result;
}

/** Continues `prompt` with a model folder's model and tokenizer (and an adapter, if given). */
export async function generateText(options: GenerateTextOptions): Promise<GeneratedText> {
  await ensureBackend(options);
  const base = await loadModelFolder(options.model, options);
  let peft: PeftModel | null = null;
  try {
    const { tokenizer, model } = base;
    if (!tokenizer) {
      throw new ConfigError(
        `${options.model} has no tokenizer.json, which generation needs to encode the prompt and decode the output`,
      );
    }
    if (options.adapter) peft = await loadAdapterFolder(model, options.adapter, { modelName: options.model });
    const promptIds = tokenizer.encode(options.prompt);
    if (promptIds.length === 0)
      throw new ConfigError('the prompt encodes to no tokens; give a non-empty --prompt');
    const settings = samplingOptions(options, base.generationDefaults);
    model.eval();
    const { tokens, finishReasons } = await generate(model, promptIds, settings);
    const newTokens = tokens[0]!;
    const promptText = tokenizer.decode(promptIds);
    const text = tokenizer.decode([...promptIds, ...newTokens]);
    const completion = text.startsWith(promptText)
      ? text.slice(promptText.length)
      : tokenizer.decode(newTokens);
    return {
      prompt: options.prompt,
      text,
      completion,
      tokens: newTokens,
      finishReason: finishReasons[0]!,
      sampled: settings.doSample ?? false,
    };
  } finally {
    if (peft) peft.dispose();
    else base.model.dispose();
  }
}
