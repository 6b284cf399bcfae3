import { type Module, parseSafetensors, serializeSafetensors } from '@peft/core';
import { assertValidAdapterName } from './adapter-name.js';
import { collectAdapterState, loadAdapterState } from './adapter-state.js';
import { type PyJson, pythonJsonDumps } from './config/python-json.js';
import { AdapterFileError } from './errors.js';
import { modelInfo } from './model-info.js';
import { type AdapterConfigInput, PeftModel } from './peft-model.js';
import { getPeftMethod } from './registry.js';
import { warn } from './warnings.js';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';

/**
 * An adapter folder in memory: relative path -> file bytes (what a browser offers as a download or
 * reads from a file picker; what the Node helpers write to and read from disk).
 */
export type AdapterFiles = Map<string, Uint8Array>;

/** The folder PEFT saves an adapter in, relative to the save directory: "" for "default", else "<name>/". */
export function adapterSubfolder(adapterName: string): string {
  assertValidAdapterName(adapterName);
  return adapterName === 'default' ? '' : `${adapterName}/`;
}

/** `adapter_config.json` as PEFT's `save_pretrained` writes it (sorted keys, indent 2, Python floats). */
export function adapterConfigJson(peft: PeftModel, adapterName: string): string {
  const config = peft.requireAdapter(adapterName);
  const json: Record<string, PyJson> = peft.peftMethod.configToJson(config);
  const info = modelInfo(peft.model);
  json['inference_mode'] = true;
  if (json['base_model_name_or_path'] === null && info.nameOrPath !== undefined) {
    json['base_model_name_or_path'] = info.nameOrPath;
  }
  if (config.task_type === null && info.architecture !== undefined && info.parentLibrary !== undefined) {
    json['auto_mapping'] = { base_model_class: info.architecture, parent_library: info.parentLibrary };
  }
  return pythonJsonDumps(json);
}

export interface SaveAdapterOptions {
  /** Adapters to save (default: all), each in its own subfolder unless named "default". */
  readonly selectedAdapters?: readonly string[];
}

/** The adapter folder(s) as PEFT writes them: config + `adapter_model.safetensors` (metadata format "pt"). */
export function saveAdapterFiles(peft: PeftModel, options: SaveAdapterOptions = {}): AdapterFiles {
  const names = options.selectedAdapters ? [...options.selectedAdapters] : [...peft.peftConfig.keys()];
  const files: AdapterFiles = new Map();
  const encoder = new TextEncoder();
  for (const name of names) {
    peft.requireAdapter(name);
    const folder = adapterSubfolder(name);
    const state = collectAdapterState(peft, name);
    files.set(
      `${folder}${ADAPTER_WEIGHTS_NAME}`,
      serializeSafetensors(state, { format: 'pt' }, { name: `${folder}${ADAPTER_WEIGHTS_NAME}` }),
    );
    files.set(`${folder}${ADAPTER_CONFIG_NAME}`, encoder.encode(adapterConfigJson(peft, name)));
  }
  return files;
}

export interface LoadAdapterOptions {
  /** Name to give the loaded adapter (default "default"). */
  readonly adapterName?: string;
  /** Folder inside `files` holding the adapter, e.g. "other/" (default: the root). */
  readonly subfolder?: string;
  /** Load with trainable tensors (PEFT's `is_trainable`); default false, as in PEFT. */
  readonly isTrainable?: boolean;
  /** Prefix for messages, e.g. the folder the files came from. */
  readonly sourceName?: string;
}

function fileIn(files: AdapterFiles, path: string, source: string): Uint8Array {
  const bytes = files.get(path);
  if (!bytes) {
    throw new AdapterFileError(
      `${source}${path}`,
      `missing (the folder has: ${[...files.keys()].join(', ') || 'no files'})`,
    );
  }
  return bytes;
}

function normaliseSubfolder(subfolder: string | undefined): string {
  if (!subfolder) return '';
  const trimmed = subfolder.replace(/\/+$/, '');
  for (const part of trimmed.split('/')) assertValidAdapterName(part);
  return `${trimmed}/`;
}

/** Reads and checks `adapter_config.json`; unknown keys warn and are dropped, as in PEFT. */
export function readAdapterConfig(files: AdapterFiles, options: LoadAdapterOptions = {}): AdapterConfigInput {
  const source = options.sourceName ? `${options.sourceName.replace(/\/?$/, '/')}` : '';
  const path = `${normaliseSubfolder(options.subfolder)}${ADAPTER_CONFIG_NAME}`;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(fileIn(files, path, source));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AdapterFileError(`${source}${path}`, `is not valid JSON (${String(cause)})`, { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new AdapterFileError(`${source}${path}`, 'must hold a JSON object');
  }
  const raw = json as Record<string, unknown>;
  if (typeof raw['peft_type'] !== 'string') {
    throw new AdapterFileError(
      `${source}${path}`,
      'has no "peft_type" string; is this a PEFT adapter folder?',
    );
  }
  const method = getPeftMethod(raw['peft_type']);
  const config = method.parseConfig(raw, {
    source: `${source}${path}`,
    onUnknownKey: (key) =>
      warn(
        'UNKNOWN_CONFIG_KEY',
        `${source}${path}: unknown field "${key}" is ignored (written by a newer PEFT?)`,
      ),
  });
  return { ...config, inference_mode: !options.isTrainable } as AdapterConfigInput;
}

/**
 * Adds the adapter stored in `files` to `peft` under `adapterName`. Every tensor is checked before
 * anything is assigned; on any problem the adapter is removed again and the error lists them all.
 */
export async function loadAdapterFiles(
  peft: PeftModel,
  files: AdapterFiles,
  options: LoadAdapterOptions = {},
): Promise<void> {
  const name = options.adapterName ?? 'default';
  const config = readAdapterConfig(files, options);
  const state = await readWeights(files, options);
  peft.addAdapter(name, config);
  try {
    loadAdapterState(peft, name, state.dict, state.source);
  } catch (error) {
    peft.deleteAdapter(name);
    throw error;
  }
}

/** PEFT's `PeftModel.from_pretrained(model, folder)` over an in-memory folder. */
export async function peftModelFromFiles(
  model: Module,
  files: AdapterFiles,
  options: LoadAdapterOptions = {},
): Promise<PeftModel> {
  const name = options.adapterName ?? 'default';
  const config = readAdapterConfig(files, options);
  const state = await readWeights(files, options);
  const peft = PeftModel.create(model, config, name);
  try {
    loadAdapterState(peft, name, state.dict, state.source);
  } catch (error) {
    peft.unload();
    throw error;
  }
  return peft;
}

async function readWeights(files: AdapterFiles, options: LoadAdapterOptions) {
  const source = options.sourceName ? `${options.sourceName.replace(/\/?$/, '/')}` : '';
  const path = `${normaliseSubfolder(options.subfolder)}${ADAPTER_WEIGHTS_NAME}`;
  const st = parseSafetensors(fileIn(files, path, source), `${source}${path}`);
  return { dict: await st.readAll(), source: `${source}${path}` };
}
