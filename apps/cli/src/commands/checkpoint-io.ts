// Reading a safetensors file or a Hugging Face model folder tensor by tensor, and writing a
// transformed copy of it atomically. Shared by the commands that rewrite checkpoints (quantize,
// dequantize); each of them only says what becomes of the tensors of one file.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, SafetensorsError, type StateDict, type TensorSource } from '@peft/core';
import {
  assertOutputOutsideInputs,
  openCheckpoint,
  openSafetensorsFile,
  parseOwnedEntryName,
  writeFileAtomic,
  writeFolderAtomically,
  writeSafetensorsFile,
} from '@peft/core/node';
import { SingleBar } from 'cli-progress';
import { isLosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';

/** One safetensors file of the input and the tensors it holds, in file order. */
export interface InputShard {
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

const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Opens a .safetensors file, or a model folder (single file or sharded), for lazy reading. */
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

/** Bytes of tensor data in a state dict (the index's `total_size`). */
function dataBytes(dict: StateDict): number {
  let total = 0;
  for (const t of dict.values()) total += t.data.byteLength;
  return total;
}

export interface CheckpointOutputOptions {
  /** Rewrites config.json (already parsed losslessly); return the object to write. */
  transformConfig?: (config: Record<string, unknown>) => Record<string, unknown>;
  /**
   * Replace an existing output folder even if it holds files a model folder does not (default: such a
   * folder is refused, so nothing of the user's is deleted without asking).
   */
  overwrite?: boolean;
}

/**
 * Writes the transformed checkpoint: to a single .safetensors file when the input is a file, else to
 * a folder with the same shard layout, a new index, the transformed config.json and the tokenizer and
 * generation files.
 *
 * - An output that is, lies inside, or contains the input (under any name: symlinks, hard links) is
 *   refused before anything is read (`OutputOverlapsInputError`).
 * - A file is written to a temp file and renamed over the output. A folder is assembled whole in a
 *   staging folder beside the output and swapped in (`writeFolderAtomically`): readers see the previous
 *   folder or the new one, never a mix, and the new one holds exactly what this run wrote (no stale
 *   shard or single-file model of an earlier run is left beside it).
 * - An existing output folder is replaced only when every entry in it is something a model folder
 *   holds (weights, index, config.json, tokenizer and generation files, leftovers of our own writes);
 *   anything else (a README, a .git folder, pytorch_model.bin) refuses it, unless `overwrite`.
 */
export async function writeCheckpointOutput(
  input: CheckpointInput,
  out: string,
  transformShard: (shard: InputShard) => Promise<StateDict>,
  options: CheckpointOutputOptions = {},
): Promise<string[]> {
  await assertOutputOutsideInputs(out, [input.path, ...input.files]);
  if (input.kind === 'file') {
    if (await isDirectory(out))
      throw new ConfigError(`output ${out} is a folder; the input is a file, so give a .safetensors path`);
    const dict = await transformShard(input.shards[0]!);
    await writeSafetensorsFile(out, dict, input.metadata);
    return [out];
  }

  const written = await writeFolderAtomically(
    out,
    (staging) => writeFolderContents(input, staging, transformShard, options),
    {
      replace: options.overwrite === true ? true : isModelFolderEntry,
      refusalAdvice:
        'they are not files of a model folder, so it is not replaced; write to a new or empty folder, or pass --overwrite to replace the whole folder',
    },
  );
  return written.map((f) => join(out, f));
}

/** Help text of the `--overwrite` flag of the commands that write model folders. */
export const OVERWRITE_HELP =
  'replace an existing output folder even if it holds files that are not part of a model folder (they are deleted)';

/** Writes every file of the output folder into `staging`; returns their names. */
async function writeFolderContents(
  input: CheckpointInput,
  staging: string,
  transformShard: (shard: InputShard) => Promise<StateDict>,
  options: CheckpointOutputOptions,
): Promise<string[]> {
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const shard of input.shards) {
    const dict = await transformShard(shard);
    await writeSafetensorsFile(join(staging, shard.file), dict, input.metadata);
    for (const key of dict.keys()) weightMap[key] = shard.file;
    totalSize += dataBytes(dict);
  }
  if (input.sharded) {
    const sorted = Object.fromEntries(
      Object.keys(weightMap)
        .sort()
        .map((k) => [k, weightMap[k]!]),
    );
    const index = { metadata: { total_size: totalSize }, weight_map: sorted };
    await writeFileAtomic(join(staging, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  }
  await writeConfig(input.path, staging, options.transformConfig);
  await copyCompanionFiles(input.path, staging);
  return (await readdir(staging)).sort();
}

/** Leftovers of writes by earlier versions: `mkdtemp` staging folders and pid-less temp files. */
const LEGACY_LEFTOVER = /^(\.peft-staging-[A-Za-z0-9]{6}|\..+\.[0-9a-f]{12}\.tmp)$/;

/** Whether an entry of an existing output folder is one a model folder holds, so replacing it loses nothing of the user's. */
export function isModelFolderEntry(name: string): boolean {
  return (
    name === 'config.json' ||
    name.endsWith('.safetensors') ||
    name.endsWith('.safetensors.index.json') ||
    COMPANION_FILE.test(name) ||
    parseOwnedEntryName(name) !== undefined ||
    LEGACY_LEFTOVER.test(name)
  );
}

async function writeConfig(
  dir: string,
  staging: string,
  transform: CheckpointOutputOptions['transformConfig'],
): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    return; // a folder without config.json is just weights
  }
  let config: unknown;
  try {
    // Lossless: `1e-05`, `10000.0` and friends must stay floats for Python to accept the config.
    config = parseLossless(text);
  } catch (cause) {
    throw new ConfigError(`${join(dir, 'config.json')}: not valid JSON (${(cause as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(`${join(dir, 'config.json')}: not a JSON object`);
  }
  const next = transform ? transform(config as Record<string, unknown>) : config;
  await writeFileAtomic(join(staging, 'config.json'), `${stringifyLossless(next, null, 2)}\n`);
}

/** The config value as a plain JS value (lossless numbers become numbers). */
export function plainConfigValue(value: unknown): unknown {
  if (isLosslessNumber(value)) return Number(value.value);
  if (Array.isArray(value)) return value.map(plainConfigValue);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainConfigValue(v)]));
  }
  return value;
}

/** Tokenizer, generation and chat-template files a model folder carries next to its weights. */
const COMPANION_FILE =
  /^(generation_config\.json|tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\.(json|txt)|merges\.txt|chat_template\.(json|jinja)|.*\.tiktoken|preprocessor_config\.json)$/;

async function copyCompanionFiles(dir: string, staging: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !COMPANION_FILE.test(entry.name)) continue;
    await writeFileAtomic(join(staging, entry.name), await readFile(join(dir, entry.name)));
  }
}

/** A progress bar on stderr, shown only when stderr is a terminal (never in pipes, logs or tests). */
export function progressBar(total: number, label: string): { tick(): void; stop(): void } {
  if (!process.stderr.isTTY || total === 0) return { tick: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {value}/{total} tensors | {duration_formatted}`,
    hideCursor: true,
    clearOnComplete: true,
  });
  bar.start(total, 0);
  return { tick: () => bar.increment(), stop: () => bar.stop() };
}
