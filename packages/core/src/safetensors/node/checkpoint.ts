import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SafetensorsError } from '../../errors.js';
import type { HostTensor } from '../../host-tensor.js';
import { MissingTensorError, type TensorSource } from '../../tensor-source.js';
import type { SafetensorsTensorInfo } from '../header.js';
import type { SafetensorsSource } from '../source.js';
import { openSafetensorsFile } from './file.js';

/** The tensors of a Hugging Face checkpoint folder, whether in one file or sharded. */
export interface CheckpointSource extends TensorSource {
  /** The safetensors files opened, in the order the index first names them. */
  readonly files: readonly string[];
  info(key: string): SafetensorsTensorInfo;
  /** Closes every file handle; later reads throw. */
  close(): Promise<void>;
}

export interface OpenCheckpointOptions {
  /**
   * Weights file name; its index is `<weightsName>.index.json`. Default `model.safetensors`
   * (transformers); e.g. `diffusion_pytorch_model.safetensors` for diffusers folders.
   */
  readonly weightsName?: string;
}

/**
 * Opens `dir/model.safetensors`, or, when that is absent, the shards listed in
 * `dir/model.safetensors.index.json` (`weight_map`: tensor name -> shard file). Every shard's header
 * is read and validated now, and every tensor the index maps must be in its shard; tensor data is
 * read lazily by `get`.
 */
export async function openCheckpoint(
  dir: string,
  options: OpenCheckpointOptions = {},
): Promise<CheckpointSource> {
  const weightsName = options.weightsName ?? 'model.safetensors';
  const single = join(dir, weightsName);
  if (await isFile(single)) {
    const source = await openSafetensorsFile(single);
    return checkpointOf(dir, [single], (key) => (source.has(key) ? source : undefined), source.keys(), [
      source,
    ]);
  }
  const indexPath = `${single}.index.json`;
  if (!(await isFile(indexPath))) {
    throw new SafetensorsError(
      dir,
      undefined,
      `no ${weightsName} or ${weightsName}.index.json in this folder`,
    );
  }
  const weightMap = await readWeightMap(indexPath, dir);

  const shards = new Map<string, SafetensorsSource>();
  try {
    for (const [tensor, shardPath] of weightMap) {
      let shard = shards.get(shardPath);
      if (!shard) {
        if (!(await isFile(shardPath))) {
          throw new SafetensorsError(
            indexPath,
            tensor,
            `shard ${shardPath} named by the index does not exist`,
          );
        }
        shard = await openSafetensorsFile(shardPath);
        shards.set(shardPath, shard);
      }
      if (!shard.has(tensor)) {
        throw new SafetensorsError(
          shardPath,
          tensor,
          `the index maps this tensor to ${shardPath}, which lacks it`,
        );
      }
    }
  } catch (error) {
    await Promise.all([...shards.values()].map((s) => s.close()));
    throw error;
  }
  const shardOf = (key: string): SafetensorsSource | undefined => {
    const path = weightMap.get(key);
    return path === undefined ? undefined : shards.get(path);
  };
  return checkpointOf(dir, [...shards.keys()], shardOf, [...weightMap.keys()], [...shards.values()]);
}

/** Reads `weight_map` and resolves each shard inside `dir`; a shard path may not leave the folder. */
async function readWeightMap(indexPath: string, dir: string): Promise<Map<string, string>> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (cause) {
    throw new SafetensorsError(indexPath, undefined, `cannot read the index: ${(cause as Error).message}`, {
      cause,
    });
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new SafetensorsError(indexPath, undefined, 'the index has no "weight_map" object');
  }
  const root = resolve(dir);
  const resolved = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new SafetensorsError(indexPath, tensor, 'weight_map entry must be a shard file name');
    }
    const path = resolve(root, shard);
    const inside = relative(root, path);
    if (
      isAbsolute(shard) ||
      inside === '' ||
      inside === '..' ||
      inside.startsWith(`..${sep}`) ||
      isAbsolute(inside)
    ) {
      throw new SafetensorsError(
        indexPath,
        tensor,
        `shard path "${shard}" points outside the checkpoint folder`,
      );
    }
    resolved.set(tensor, path);
  }
  return resolved;
}

function checkpointOf(
  dir: string,
  files: readonly string[],
  shardOf: (key: string) => SafetensorsSource | undefined,
  keys: readonly string[],
  sources: readonly SafetensorsSource[],
): CheckpointSource {
  const lookup = (key: string): SafetensorsSource => {
    const source = shardOf(key);
    if (!source) throw new MissingTensorError(dir, key);
    return source;
  };
  return {
    name: dir,
    files,
    keys: () => [...keys],
    has: (key) => shardOf(key) !== undefined,
    info: (key) => lookup(key).info(key),
    get: async (key): Promise<HostTensor> => lookup(key).get(key),
    close: async () => {
      await Promise.all(sources.map((s) => s.close()));
    },
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
