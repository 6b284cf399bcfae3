// A Hugging Face model folder from Blobs (a browser's `<input type=file webkitdirectory>` or multiple-file
// select), as `loadPretrained` takes it. Browser-safe: no file system, and the weights stay in their Blobs
// (each tensor is read when the loader asks for it, so a large folder is never held in memory whole).
import {
  ConfigError,
  MissingTensorError,
  openSafetensorsBlob,
  type SafetensorsSource,
  type TensorSource,
} from '@peft/core';
import type { PretrainedFiles } from './pretrained.js';

/** A file of the folder: its name (a path inside the folder is allowed; only the last part counts) and contents. */
export interface NamedBlob {
  readonly name: string;
  readonly blob: Blob;
}

const WEIGHTS = 'model.safetensors';
const INDEX = `${WEIGHTS}.index.json`;

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

async function readJson(file: NamedBlob, where: string): Promise<unknown> {
  const text = await file.blob.text();
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${where}/${baseName(file.name)} is not valid JSON (${(cause as Error).message})`);
  }
}

/** The tensors of several shards as one source; `shardOf` maps a tensor to its shard. */
function shardedSource(
  name: string,
  keys: readonly string[],
  shardOf: ReadonlyMap<string, SafetensorsSource>,
): TensorSource {
  const lookup = (key: string): SafetensorsSource => {
    const shard = shardOf.get(key);
    if (!shard) throw new MissingTensorError(name, key);
    return shard;
  };
  return {
    name,
    keys: () => [...keys],
    has: (key) => shardOf.has(key),
    info: (key) => lookup(key).info(key),
    get: (key) => lookup(key).get(key),
  };
}

/** `model.safetensors`, or the shards `model.safetensors.index.json` names (every shard's header checked now). */
async function openWeights(byName: ReadonlyMap<string, NamedBlob>, where: string): Promise<TensorSource> {
  const single = byName.get(WEIGHTS);
  if (single) return openSafetensorsBlob(single.blob, `${where}/${WEIGHTS}`);
  const index = byName.get(INDEX);
  if (!index) {
    throw new ConfigError(
      `${where} has no ${WEIGHTS} or ${INDEX}; choose the whole model folder (config.json, the *.safetensors weights, tokenizer.json)`,
    );
  }
  const weightMap = ((await readJson(index, where)) as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ConfigError(`${where}/${INDEX} has no "weight_map" object`);
  }
  const shards = new Map<string, SafetensorsSource>();
  const shardOf = new Map<string, SafetensorsSource>();
  for (const [tensor, shardName] of Object.entries(weightMap)) {
    if (typeof shardName !== 'string' || shardName === '' || shardName.includes('/')) {
      throw new ConfigError(`${where}/${INDEX}: weight_map entry of "${tensor}" must be a shard file name`);
    }
    let shard = shards.get(shardName);
    if (!shard) {
      const file = byName.get(shardName);
      if (!file)
        throw new ConfigError(
          `${where}/${INDEX} names shard ${shardName}, which was not among the files chosen`,
        );
      shard = await openSafetensorsBlob(file.blob, `${where}/${shardName}`);
      shards.set(shardName, shard);
    }
    if (!shard.has(tensor)) {
      throw new ConfigError(
        `${where}/${shardName}: the index maps tensor "${tensor}" to this shard, which lacks it`,
      );
    }
    shardOf.set(tensor, shard);
  }
  return shardedSource(`${where}/${INDEX}`, [...shardOf.keys()], shardOf);
}

/**
 * Reads a model folder's small JSON files and opens its weights (single file or sharded with an index) from
 * Blobs, for `loadPretrained`. `tokenizer.json`, `tokenizer_config.json` and `generation_config.json` are used
 * when present. Files are matched by base name, so paths such as `my-model/config.json` (a directory picker's
 * `webkitRelativePath`) work. `name` names the folder in errors (default: the first path part, or "model").
 */
export async function pretrainedFilesFromBlobs(
  files: readonly NamedBlob[],
  name?: string,
): Promise<PretrainedFiles> {
  const byName = new Map<string, NamedBlob>();
  for (const file of files) byName.set(baseName(file.name), file);
  const first = files[0]?.name ?? '';
  const where = name ?? (first.includes('/') ? first.slice(0, first.indexOf('/')) : 'model');
  const configFile = byName.get('config.json');
  if (!configFile) {
    throw new ConfigError(
      `${where} has no config.json; choose a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)`,
    );
  }
  const optional = async (file: string) => {
    const found = byName.get(file);
    return found ? { [fieldOf[file]!]: await readJson(found, where) } : {};
  };
  return {
    name: where,
    config: await readJson(configFile, where),
    source: await openWeights(byName, where),
    ...(await optional('tokenizer.json')),
    ...(await optional('tokenizer_config.json')),
    ...(await optional('generation_config.json')),
  };
}

const fieldOf: Record<string, keyof PretrainedFiles> = {
  'tokenizer.json': 'tokenizer',
  'tokenizer_config.json': 'tokenizerConfig',
  'generation_config.json': 'generationConfig',
};
