// Loading a Hugging Face model folder for fine-tuning, evaluation, generation or merging, with an
// optional on-the-fly quantization of its linear layers by any registered quantizer.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, getQuantizer, isLinear } from '@peft/core';
import {
  type GenerateOptions,
  type LlamaConfig,
  type LlamaForCausalLM,
  quantizeOnLoad,
  type TextTokenizer,
} from '@peft/models';
import { loadPretrainedFolder } from '@peft/models/node';

/** How to quantize the base model's linear layers on load (the `--quantize` flags in camelCase). */
export interface QuantizeOptions {
  /** A registered quantizer ("nf4", "fp4", ...) for the dense linear layers but the head, or "none" (default). */
  quantize?: string;
  /** bitsandbytes: absmax block size (default 64). */
  blocksize?: number;
  /** bitsandbytes: double quantization (default true). */
  doubleQuant?: boolean;
  /** The quantizer's options by the names its contract declares; unset ones take its defaults. */
  quantizeOptions?: Readonly<Record<string, unknown>>;
}

/** The quantizer options that were given, by name. */
export function givenQuantizeOptions(options: QuantizeOptions): Record<string, unknown> {
  return {
    ...options.quantizeOptions,
    ...(options.blocksize === undefined ? {} : { blocksize: options.blocksize }),
    ...(options.doubleQuant === undefined ? {} : { doubleQuant: options.doubleQuant }),
  };
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
  /** The quantizer's resolved options (null without `quantize`), as a run's fingerprint records them. */
  readonly quantization: {
    readonly type: string;
    readonly options: Readonly<Record<string, unknown>>;
  } | null;
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
 * Loads a Hugging Face model folder (dense, or a folder in a registered quantized format such as
 * bitsandbytes `*-bnb-4bit`, whose layers stay quantized) and, with `quantize`, quantizes its dense linear
 * layers one at a time as transformers' `load_in_4bit` does (the output head stays dense).
 */
export async function loadModelFolder(dir: string, options: QuantizeOptions = {}): Promise<BaseModel> {
  await assertModelFolder(dir);
  const name = options.quantize ?? 'none';
  const onLoad = name === 'none' ? null : quantizeOnLoad(getQuantizer(name), givenQuantizeOptions(options));
  const loaded = await loadPretrainedFolder(dir, onLoad ? { quantizeLinear: onLoad.quantizeLinear } : {});
  return {
    dir,
    model: loaded.model,
    config: loaded.config,
    tokenizer: loaded.tokenizer,
    generationDefaults: loaded.generationDefaults,
    quantizedLayers: onLoad?.result.paths ?? [],
    schemes: linearSchemes(loaded.model),
    quantization: onLoad ? { type: onLoad.result.quantizer, options: onLoad.result.options } : null,
  };
}
