// Node-only entry point (`@peft/models/node`): reading and writing checkpoint folders on disk.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type DType } from '@peft/core';
import { openCheckpoint, writeFileAtomic, writeSafetensorsFile } from '@peft/core/node';
import { parseLlamaConfig } from './config.js';
import type { LoadOptions } from './load.js';
import type { LlamaForCausalLM } from './model.js';
import { loadPretrained, type PretrainedModel } from './pretrained.js';
import { modelStateDict } from './state-dict.js';

export {
  DEFAULT_DOWNLOAD_INCLUDE,
  DEFAULT_HUB_URL,
  type DownloadedFile,
  type DownloadModelFolderOptions,
  type DownloadModelFolderReport,
  type DownloadProgress,
  downloadModelFolder,
} from './download/download-model-folder.js';
export { HubDownloadError, type HubDownloadErrorCode } from './download/errors.js';
export {
  type CheckpointInput,
  type InputShard,
  isDirectory,
  openCheckpointInput,
  tensorCount,
} from './folder/checkpoint-input.js';
export {
  type CheckpointOutputOptions,
  isModelFolderEntry,
  type LosslessConfig,
  writeCheckpointOutput,
} from './folder/checkpoint-output.js';
export {
  type DequantizeFolderOptions,
  type DequantizeFolderReport,
  dequantizeFolder,
} from './folder/dequantize-folder.js';
export {
  type QuantizeFolderOptions,
  type QuantizeFolderReport,
  quantizeFolder,
} from './folder/quantize-folder.js';
export { TORCH_FLOAT_DTYPES, type TorchFloatDType } from './folder/torch-dtype.js';
export {
  DEFAULT_MAX_SHARD_BYTES,
  type WriteRandomModelOptions,
  type WrittenModel,
  writeRandomModel,
} from './write-random-model.js';

/**
 * Loads a Hugging Face checkpoint folder: `config.json`, `model.safetensors` or a sharded
 * `model.safetensors.index.json`, and when present `tokenizer.json` (+ `tokenizer_config.json`)
 * and `generation_config.json`. Tensors are read one at a time from the files.
 */
export async function loadPretrainedFolder(dir: string, options: LoadOptions = {}): Promise<PretrainedModel> {
  const config = await readJson(dir, 'config.json', true);
  // Fail on an unsupported config before touching the weights.
  parseLlamaConfig(config, join(dir, 'config.json'));
  const tokenizer = await readJson(dir, 'tokenizer.json', false);
  const tokenizerConfig = await readJson(dir, 'tokenizer_config.json', false);
  const generationConfig = await readJson(dir, 'generation_config.json', false);
  const source = await openCheckpoint(dir);
  try {
    return await loadPretrained(
      {
        name: dir,
        config,
        source,
        ...(tokenizer === undefined ? {} : { tokenizer }),
        ...(tokenizerConfig === undefined ? {} : { tokenizerConfig }),
        ...(generationConfig === undefined ? {} : { generationConfig }),
      },
      options,
    );
  } finally {
    await source.close();
  }
}

export interface SaveOptions {
  /** dtype of embedding and norm weights (default: the config's `torch_dtype`, else F32). */
  floatDType?: DType;
  /** Fields merged into `config.json`, e.g. a `quantization_config` after quantizing. */
  configOverrides?: Record<string, unknown>;
  /** Extra JSON files to write beside the weights, e.g. `{ 'generation_config.json': {...} }`. */
  extraFiles?: Record<string, unknown>;
}

/**
 * Writes a folder transformers can load (creating it if needed): `model.safetensors` (metadata
 * `{"format": "pt"}`) and `config.json`, each atomically (temp file + rename), weights first so a config never describes
 * weights that are not there yet.
 */
export async function saveModel(
  model: LlamaForCausalLM,
  dir: string,
  options: SaveOptions = {},
): Promise<void> {
  const { tensors, config } = modelStateDict(
    model,
    options.floatDType ? { floatDType: options.floatDType } : {},
  );
  const extraFiles = Object.entries(options.extraFiles ?? {});
  for (const [name] of extraFiles) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      throw new ConfigError(`saveModel: extra file name ${JSON.stringify(name)} must be a plain file name`);
    }
  }
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeJson(join(dir, 'config.json'), { ...config, ...options.configOverrides });
  for (const [name, value] of extraFiles) await writeJson(join(dir, name), value);
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function readJson(dir: string, name: string, required: boolean): Promise<unknown> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${path}: cannot read: ${(cause as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${path}: invalid JSON: ${(cause as Error).message}`);
  }
}
