// Node-only entry point (`@peft/adapter-bridge/node`): adapter folders on disk. The main entry point
// stays browser-safe and works on in-memory file maps.
import { type FileHandle, lstat, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { type Module, openSafetensorsReader } from '@peft/core';
import { writeFileAtomic } from '@peft/core/node';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterFiles,
  type LoadAdapterOptions,
  loadAdapterFiles,
  peftModelFromFiles,
  type SaveAdapterOptions,
  saveAdapterFiles,
} from './adapter-files.js';
import { assertValidAdapterName } from './adapter-name.js';
import { AdapterFileError } from './errors.js';
import { adapterModelCard, isGeneratedModelCard, MODEL_CARD_NAME } from './model-card.js';
import { readRegularFile } from './node-regular-file.js';
import type { PeftModel } from './peft-model.js';

/** `adapter_config.json` is a few kilobytes; anything past this is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface SavePretrainedOptions extends SaveAdapterOptions {
  /**
   * Write a model card `README.md` in `dir` as PEFT does (default true). A README.md that this
   * function did not write (no `MODEL_CARD_MARKER`) is never replaced.
   */
  readonly modelCard?: boolean;
}

/**
 * PEFT's `save_pretrained(dir)`: each adapter as `adapter_config.json` + `adapter_model.safetensors`,
 * non-default adapters in `dir/<name>/`, and a model card `README.md` in `dir`. Each file is written
 * atomically (temp file + rename), so an interrupted save never leaves a half-written file where a
 * good one was. Returns the written paths.
 */
export async function savePretrained(
  peft: PeftModel,
  dir: string,
  options: SavePretrainedOptions = {},
): Promise<string[]> {
  const files = saveAdapterFiles(peft, options);
  const written: string[] = [];
  // Weights before configs: a folder whose config is present always has its weights.
  const ordered = [...files.entries()].sort(
    ([a], [b]) => Number(a.endsWith(ADAPTER_CONFIG_NAME)) - Number(b.endsWith(ADAPTER_CONFIG_NAME)),
  );
  for (const [relativePath, bytes] of ordered) {
    const path = join(dir, ...relativePath.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
    written.push(path);
  }
  if (options.modelCard ?? true) {
    const card = await writeModelCard(peft, dir, options.selectedAdapters);
    if (card) written.push(card);
  }
  return written;
}

/** Writes `dir/README.md` unless something other than a card written here is already there. */
async function writeModelCard(
  peft: PeftModel,
  dir: string,
  adapterNames: readonly string[] | undefined,
): Promise<string | null> {
  const path = join(dir, MODEL_CARD_NAME);
  const existing = await lstat(path).catch(() => null);
  if (existing) {
    // Only a regular file we generated is refreshed; a link, a folder or the user's own README stays.
    if (!existing.isFile() || existing.size > MAX_CONFIG_BYTES) return null;
    if (!isGeneratedModelCard(await readFile(path, 'utf8'))) return null;
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path, adapterModelCard(peft, adapterNames));
  return path;
}

/** Reads an adapter folder (its config and weights; or `subfolder` of it) into a file map. */
export async function readAdapterFolder(dir: string, subfolder = ''): Promise<AdapterFiles> {
  const files: AdapterFiles = new Map();
  const info = await stat(dir).catch((cause: unknown) => {
    throw new AdapterFileError(dir, 'adapter folder not found', { cause });
  });
  if (!info.isDirectory()) throw new AdapterFileError(dir, 'is not a folder');
  const parts = subfolder.split('/').filter(Boolean);
  for (const part of parts) assertValidAdapterName(part);
  const folder = join(dir, ...parts);
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME]) {
    if (!names.includes(name)) continue;
    const path = join(folder, name);
    const bytes =
      name === ADAPTER_CONFIG_NAME
        ? await readRegularFile(path, { maxBytes: MAX_CONFIG_BYTES })
        : await readRegularFile(path, {
            check: (handle, size) => checkSafetensorsHeader(handle, size, path),
          });
    files.set(relative(dir, path).split(sep).join('/'), bytes);
  }
  return files;
}

/** Validates the length prefix and header against the file size, reading only those bytes. */
async function checkSafetensorsHeader(handle: FileHandle, size: number, path: string): Promise<void> {
  await openSafetensorsReader(
    {
      size,
      read: async (begin, end) => {
        const out = new Uint8Array(end - begin);
        const { bytesRead } = await handle.read(out, 0, out.byteLength, begin);
        return out.subarray(0, bytesRead);
      },
    },
    path,
  );
}

/** PEFT's `PeftModel.from_pretrained(model, dir)`: injects and loads the adapter saved in `dir`. */
export async function peftModelFromFolder(
  model: Module,
  dir: string,
  options: LoadAdapterOptions = {},
): Promise<PeftModel> {
  const files = await readAdapterFolder(dir, options.subfolder);
  return peftModelFromFiles(model, files, { ...options, sourceName: options.sourceName ?? dir });
}

/** PEFT's `load_adapter(dir, adapter_name)`: adds another saved adapter to `peft`. */
export async function loadAdapter(
  peft: PeftModel,
  dir: string,
  options: LoadAdapterOptions = {},
): Promise<void> {
  const files = await readAdapterFolder(dir, options.subfolder);
  await loadAdapterFiles(peft, files, { ...options, sourceName: options.sourceName ?? dir });
}
