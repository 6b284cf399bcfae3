// Reading a safetensors file or a Hugging Face model folder tensor by tensor, shard by shard, for the
// functions that write a transformed copy of it (quantizeFolder, dequantizeFolder, merging an adapter).
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SafetensorsError, type TensorSource } from '@peft/core';
import { openCheckpoint, openSafetensorsFile } from '@peft/core/node';

/** One safetensors file of the input and the tensors it holds, in file order. */
export interface InputShard {
  /** The file's name inside the folder (or the input file's own name). */
  readonly file: string;
  readonly keys: readonly string[];
}

export interface CheckpointInput {
  readonly kind: 'file' | 'folder';
  readonly path: string;
  /** Every file the input consists of (the file itself, or each entry of the folder): no output may overwrite one. */
  readonly files: readonly string[];
  /** Every tensor of the checkpoint, whichever shard it lives in. */
  readonly source: TensorSource;
  readonly shards: readonly InputShard[];
  /** True when the folder has `model.safetensors.index.json`. */
  readonly sharded: boolean;
  /** `__metadata__` of the (first) input file; transformers needs `format: pt` in it. */
  readonly metadata: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

export const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Opens a .safetensors file, or a model folder (single file or sharded), for lazy reading; close it when done. */
export async function openCheckpointInput(path: string): Promise<CheckpointInput> {
  if (!(await isDirectory(path))) {
    const file = await openSafetensorsFile(path);
    return {
      kind: 'file',
      path,
      files: [path],
      source: file,
      shards: [{ file: basename(path), keys: file.keys() }],
      sharded: false,
      metadata: file.metadata ?? new Map([['format', 'pt']]),
      close: () => file.close(),
    };
  }
  const checkpoint = await openCheckpoint(path);
  try {
    const shards = await shardsOf(path, checkpoint.keys());
    const first = await openSafetensorsFile(checkpoint.files[0]!);
    const metadata = first.metadata ?? new Map([['format', 'pt']]);
    await first.close();
    return {
      kind: 'folder',
      path,
      files: (await readdir(path)).map((name) => join(path, name)),
      source: checkpoint,
      shards,
      sharded: shards.length > 1 || shards[0]?.file !== SINGLE_FILE,
      metadata,
      close: () => checkpoint.close(),
    };
  } catch (error) {
    await checkpoint.close();
    throw error;
  }
}

/** Tensors of the whole input, for progress reports. */
export function tensorCount(input: CheckpointInput): number {
  return input.shards.reduce((n, s) => n + s.keys.length, 0);
}

/**
 * Groups tensor names by the shard file the index maps them to (one group for a single file). A
 * rewritten checkpoint holds exactly the tensors the index lists, so a tensor a shard holds but the
 * index does not map to that shard would be lost without a word: it is an error naming both.
 */
async function shardsOf(dir: string, keys: readonly string[]): Promise<InputShard[]> {
  try {
    await stat(join(dir, SINGLE_FILE));
    return [{ file: SINGLE_FILE, keys }];
  } catch {
    // sharded: openCheckpoint has already validated the index and that every listed tensor exists
  }
  const indexPath = join(dir, INDEX_FILE);
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as {
    weight_map: Record<string, string>;
  };
  const byFile = new Map<string, string[]>();
  for (const key of keys) {
    const file = index.weight_map[key]!;
    const list = byFile.get(file) ?? [];
    list.push(key);
    byFile.set(file, list);
  }
  for (const file of byFile.keys())
    await assertShardFullyIndexed(join(dir, file), index.weight_map, indexPath);
  return [...byFile].map(([file, shardKeys]) => ({ file, keys: shardKeys }));
}

async function assertShardFullyIndexed(
  shardPath: string,
  weightMap: Record<string, string>,
  indexPath: string,
): Promise<void> {
  const shard = await openSafetensorsFile(shardPath);
  try {
    for (const tensor of shard.keys()) {
      const mapped = Object.hasOwn(weightMap, tensor) ? weightMap[tensor] : undefined;
      if (mapped !== undefined && join(shardPath, '..', mapped) === shardPath) continue;
      throw new SafetensorsError(
        shardPath,
        tensor,
        mapped === undefined
          ? `the shard holds this tensor but ${indexPath} does not list it, so it would be lost; add it to weight_map or remove it from the shard`
          : `the shard holds this tensor but ${indexPath} maps it to ${mapped}, so this copy would be lost; fix weight_map or remove the duplicate`,
      );
    }
  } finally {
    await shard.close();
  }
}
