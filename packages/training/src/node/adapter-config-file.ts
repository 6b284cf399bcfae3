// PEFT adapter_config.json files: read one to start a new adapter, or describe a config as JSON.
import { readFile } from 'node:fs/promises';
import { type AdapterConfig, getPeftMethod, pythonJsonDumps, warn } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';

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
export function adapterConfigAsJson(config: AdapterConfig): Record<string, unknown> {
  return JSON.parse(pythonJsonDumps(getPeftMethod(config.peft_type).configToJson(config))) as Record<
    string,
    unknown
  >;
}
