// Loading a Hugging Face model folder for fine-tuning, evaluation, generation or merging, with an
// optional on-the-fly 4-bit quantization of its linear layers.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, isLinear } from '@peft/core';
import type { GenerateOptions, LlamaConfig, LlamaForCausalLM, TextTokenizer } from '@peft/models';
import { fromPretrained } from '@peft/models/node';
// Importing the quantizer registers its linear format, so `*-bnb-4bit` folders load as 4-bit layers.
import { type Bnb4QuantType, quantizeModule } from '@peft/quant-bnb4';

/** What to do with the base model's linear layers after loading. */
export type QuantizeChoice = 'none' | Bnb4QuantType;
export const QUANTIZE_CHOICES: readonly QuantizeChoice[] = ['none', 'nf4', 'fp4'];

export interface LoadBaseModelOptions {
  /** Quantize dense linear layers (all but the output head) to bitsandbytes 4-bit; default "none". */
  quantize?: QuantizeChoice;
  /** Elements per absmax block when quantizing (default 64, as bitsandbytes). */
  blocksize?: number;
  /** Double quantization of the absmax statistics when quantizing (default true, as QLoRA). */
  doubleQuant?: boolean;
}

export interface BaseModel {
  readonly dir: string;
  readonly model: LlamaForCausalLM;
  readonly config: LlamaConfig;
  readonly tokenizer: TextTokenizer | null;
  readonly generationDefaults: GenerateOptions;
  /** Paths of the layers quantized after loading (empty without `quantize`). */
  readonly quantizedLayers: readonly string[];
  /** The scheme of every linear layer, counted: e.g. { dense: 1, 'bnb4-nf4': 14 }. */
  readonly schemes: Readonly<Record<string, number>>;
}

/** Checks that `dir` is a model folder before anything heavy happens, with an error that says what to pass. */
export async function assertModelFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info) throw new ConfigError(`model folder ${dir} does not exist`);
  if (!info.isDirectory()) {
    throw new ConfigError(
      `${dir} is a file; pass the model folder (the one holding config.json and the *.safetensors weights)`,
    );
  }
  if (!(await stat(join(dir, 'config.json')).catch(() => null))) {
    throw new ConfigError(
      `${dir} has no config.json; pass a Hugging Face model folder (config.json + model.safetensors or a sharded index)`,
    );
  }
}

/** Counts the storage scheme of every linear layer. */
export function linearSchemes(model: LlamaForCausalLM): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, module] of model.namedModules()) {
    if (isLinear(module)) counts[module.layer.scheme] = (counts[module.layer.scheme] ?? 0) + 1;
  }
  return counts;
}

/**
 * Loads a Hugging Face model folder (dense, or a bitsandbytes `*-bnb-4bit` folder, whose layers stay
 * 4-bit) and, with `quantize`, turns its dense linear layers into 4-bit ones as transformers'
 * `load_in_4bit` does (the output head stays dense). The model's `nameOrPath` is the folder.
 */
export async function loadBaseModel(dir: string, options: LoadBaseModelOptions = {}): Promise<BaseModel> {
  await assertModelFolder(dir);
  const loaded = await fromPretrained(dir);
  const quantize = options.quantize ?? 'none';
  let quantizedLayers: string[] = [];
  if (quantize !== 'none') {
    try {
      quantizedLayers = quantizeModule(loaded.model, {
        quantType: quantize,
        blocksize: options.blocksize ?? 64,
        doubleQuant: options.doubleQuant ?? true,
      });
    } catch (error) {
      loaded.model.dispose();
      throw error;
    }
  }
  return {
    dir,
    model: loaded.model,
    config: loaded.config,
    tokenizer: loaded.tokenizer,
    generationDefaults: loaded.generationDefaults,
    quantizedLayers,
    schemes: linearSchemes(loaded.model),
  };
}
