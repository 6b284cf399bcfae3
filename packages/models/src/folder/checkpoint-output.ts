// Writing a transformed copy of a checkpoint atomically: a single .safetensors file, or a model folder
// with the input's shard layout, a new index, config.json and the tokenizer and generation files.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type StateDict } from '@peft/core';
import {
  assertOutputOutsideInputs,
  parseOwnedEntryName,
  writeFileAtomic,
  writeFolderAtomically,
  writeSafetensorsFile,
} from '@peft/core/node';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { type CheckpointInput, INDEX_FILE, type InputShard, isDirectory } from './checkpoint-input.js';

/** A config.json object as parsed losslessly: numbers are `LosslessNumber`s, so `1e-05` and `10000.0` survive. */
export type LosslessConfig = Record<string, unknown>;

export interface CheckpointOutputOptions {
  /** Rewrites config.json (already parsed losslessly); return the object to write. */
  transformConfig?: (config: LosslessConfig) => LosslessConfig;
  /**
   * Replace an existing output folder even if it holds files a model folder does not (default: such a
   * folder is refused, so nothing of the user's is deleted without asking).
   */
  overwrite?: boolean;
}

/**
 * Writes the transformed checkpoint: to a single .safetensors file when the input is a file, else to
 * a folder with the same shard layout, a new index, the transformed config.json and the tokenizer and
 * generation files. `transformShard` says what becomes of the tensors of one input file. Returns the
 * paths written.
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
        'they are not files of a model folder, so it is not replaced; write to a new or empty folder, or pass --overwrite (overwrite: true) to replace the whole folder',
    },
  );
  return written.map((f) => join(out, f));
}

/** Bytes of tensor data in a state dict (the index's `total_size`). */
function dataBytes(dict: StateDict): number {
  let total = 0;
  for (const t of dict.values()) total += t.data.byteLength;
  return total;
}

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

/** Tokenizer, generation and chat-template files a model folder carries next to its weights. */
const COMPANION_FILE =
  /^(generation_config\.json|tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\.(json|txt)|merges\.txt|chat_template\.(json|jinja)|.*\.tiktoken|preprocessor_config\.json)$/;

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
  const next = transform ? transform(config as LosslessConfig) : config;
  await writeFileAtomic(join(staging, 'config.json'), `${stringifyLossless(next, null, 2)}\n`);
}

async function copyCompanionFiles(dir: string, staging: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !COMPANION_FILE.test(entry.name)) continue;
    await writeFileAtomic(join(staging, entry.name), await readFile(join(dir, entry.name)));
  }
}
