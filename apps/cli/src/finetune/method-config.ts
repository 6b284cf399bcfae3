// Adapter configs from command-line style options or from an adapter_config.json file. Importing the
// method packages registers VeRA and LoRA with the bridge.
import { readFile } from 'node:fs/promises';
import { type AdapterConfig, getPeftMethod, pythonJsonDumps, warn } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import '@peft/lora';
import '@peft/vera';

/** The methods the command line knows, by their option name, with PEFT's `peft_type`. */
export const METHOD_PEFT_TYPES = { vera: 'VERA', lora: 'LORA' } as const;
export type MethodName = keyof typeof METHOD_PEFT_TYPES;
export const METHOD_NAMES = Object.keys(METHOD_PEFT_TYPES) as MethodName[];

/** A method and its fields as a command line gives them (unset fields take PEFT's defaults). */
export interface MethodOptions {
  method: MethodName;
  r?: number;
  /** Names (exact or dotted suffix), "all-linear", or a regex string (full match); unset: PEFT's default. */
  targetModules?: string[] | string;
  /** `vera_dropout` or `lora_dropout`. */
  dropout?: number;
  bias?: string;
  layersToTransform?: number[];
  modulesToSave?: string[];
  /** VeRA only. */
  dInitial?: number;
  /** VeRA only. */
  projectionPrngKey?: number;
  /** VeRA only. */
  saveProjection?: boolean;
  /** LoRA only. */
  loraAlpha?: number;
  /** LoRA only. */
  useRslora?: boolean;
  /** LoRA only: true (Kaiming A, zero B), false (both random) or "gaussian". */
  initLoraWeights?: boolean | 'gaussian';
}

/** Options that belong to one method only, with the flag that sets them. */
const METHOD_ONLY: Record<string, { method: MethodName; flag: string }> = {
  dInitial: { method: 'vera', flag: '--d-initial' },
  projectionPrngKey: { method: 'vera', flag: '--projection-prng-key' },
  saveProjection: { method: 'vera', flag: '--no-save-projection' },
  loraAlpha: { method: 'lora', flag: '--lora-alpha' },
  useRslora: { method: 'lora', flag: '--use-rslora' },
  initLoraWeights: { method: 'lora', flag: '--init-lora-weights' },
};

/** Flags given that do not apply to `options.method`, e.g. `--lora-alpha` with VeRA. */
export function misplacedMethodOptions(options: Partial<MethodOptions> & { method: MethodName }): string[] {
  return Object.entries(METHOD_ONLY)
    .filter(
      ([key, spec]) => options[key as keyof MethodOptions] !== undefined && spec.method !== options.method,
    )
    .map(([, spec]) => `${spec.flag} applies to --method ${spec.method} only`);
}

const REGEX_CHARACTERS = /[*+?()[\]{}|\\^$]/;

/**
 * `--target-modules` as PEFT takes `target_modules`: "all-linear"; a regular expression (any value with
 * regex characters, matched against whole module paths); else comma-separated names, each matching a
 * module path exactly or as a dotted suffix.
 */
export function parseTargetModules(value: string): string[] | string {
  const trimmed = value.trim();
  if (trimmed.toLowerCase() === 'all-linear' || REGEX_CHARACTERS.test(trimmed)) return trimmed;
  const names = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new ConfigError('--target-modules is empty; give names, "all-linear" or a regex');
  return names;
}

/** A parsed, validated adapter config (PEFT's defaults for every unset field) from method options. */
export function adapterConfigFromOptions(options: MethodOptions): AdapterConfig {
  const peftType = METHOD_PEFT_TYPES[options.method];
  if (!peftType) {
    throw new ConfigError(
      `unknown method ${JSON.stringify(options.method)}; use one of ${METHOD_NAMES.join(', ')}`,
    );
  }
  const problems = misplacedMethodOptions(options);
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  const fields: Record<string, unknown> = { peft_type: peftType };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) fields[key] = value;
  };
  set('r', options.r);
  set('target_modules', options.targetModules);
  set(options.method === 'vera' ? 'vera_dropout' : 'lora_dropout', options.dropout);
  set('bias', options.bias);
  set('layers_to_transform', options.layersToTransform);
  set('modules_to_save', options.modulesToSave);
  set('d_initial', options.dInitial);
  set('projection_prng_key', options.projectionPrngKey);
  set('save_projection', options.saveProjection);
  set('lora_alpha', options.loraAlpha);
  set('use_rslora', options.useRslora);
  set('init_lora_weights', options.initLoraWeights);
  return getPeftMethod(peftType).parseConfig(fields, { source: 'the command-line options' }) as AdapterConfig;
}

/**
 * Reads a PEFT `adapter_config.json` (any registered method). An unknown `peft_type` names the package
 * to install; unknown fields are ignored with a warning, as PEFT does.
 */
export async function readAdapterConfigFile(path: string): Promise<AdapterConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`adapter config ${path} cannot be read: ${(cause as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${path}: not valid JSON (${(cause as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${path}: expected a JSON object (a PEFT adapter_config.json)`);
  }
  const raw = json as Record<string, unknown>;
  if (typeof raw['peft_type'] !== 'string') {
    throw new ConfigError(`${path}: no "peft_type" string; is this a PEFT adapter_config.json?`);
  }
  const method = getPeftMethod(raw['peft_type']);
  // A config used to create an adapter is a training config, whatever the file said.
  const { inference_mode: _inference, ...fields } = raw;
  return method.parseConfig(fields, {
    source: path,
    onUnknownKey: (key) => warn('UNKNOWN_CONFIG_KEY', `${path}: unknown field "${key}" is ignored`),
  }) as AdapterConfig;
}

/** Every field of a config as PEFT writes it, as plain JSON values (for fingerprints and reports). */
export function adapterConfigJson(config: AdapterConfig): Record<string, unknown> {
  return JSON.parse(pythonJsonDumps(getPeftMethod(config.peft_type).configToJson(config))) as Record<
    string,
    unknown
  >;
}
