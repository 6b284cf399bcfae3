import { ConfigError } from '@peft/core';
import { tokenIdList } from './config.js';
import type { GenerateOptions } from './generate.js';

/**
 * The defaults a `generation_config.json` sets, as `generate` options. Fields it does not set are
 * left out, so `generate`'s own defaults apply.
 */
export function parseGenerationConfig(json: unknown, where = 'generation_config.json'): GenerateOptions {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${where}: expected a JSON object`);
  }
  const raw = json as Record<string, unknown>;
  const options: GenerateOptions = {};
  const number = (name: string): number | undefined => {
    const v = raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ConfigError(`${where}: "${name}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof raw['do_sample'] === 'boolean') options.doSample = raw['do_sample'];
  const temperature = number('temperature');
  if (temperature !== undefined) options.temperature = temperature;
  const topK = number('top_k');
  if (topK !== undefined) options.topK = topK;
  const topP = number('top_p');
  if (topP !== undefined) options.topP = topP;
  const maxNewTokens = number('max_new_tokens');
  if (maxNewTokens !== undefined) options.maxNewTokens = maxNewTokens;
  const eos = tokenIdList(raw['eos_token_id'], 'eos_token_id', where);
  if (eos.length > 0) options.eosTokenId = eos;
  const pad = number('pad_token_id');
  if (pad !== undefined) options.padTokenId = pad;
  return options;
}
