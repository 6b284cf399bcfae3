import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../options.js';
import { pageAdapterConfig, parseMethodOptions } from './adapter-config.js';

describe('the adapter config of a page run', () => {
  it('is VeRA on every linear layer with the form rank and the seed as projection_prng_key by default', () => {
    const config = pageAdapterConfig({ ...DEFAULT_OPTIONS, r: 64, seed: 9 });
    expect(config).toMatchObject({
      peft_type: 'VERA',
      r: 64,
      target_modules: 'all-linear',
      projection_prng_key: 9,
    });
  });

  it('takes LoRA with its own options typed as name=value pairs, parsed by the method spec', () => {
    const config = pageAdapterConfig({
      ...DEFAULT_OPTIONS,
      method: 'lora',
      r: 8,
      methodOptions: ' loraAlpha=32   dropout=0.1 useRslora=true ',
    });
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 8,
      lora_alpha: 32,
      lora_dropout: 0.1,
      use_rslora: true,
    });
    // Comma-separated names stay one value (pairs are split on spaces only).
    const targeted = pageAdapterConfig({
      ...DEFAULT_OPTIONS,
      method: 'lora',
      methodOptions: 'targetModules=q_proj,v_proj',
    });
    expect(targeted.target_modules).toEqual(expect.arrayContaining(['q_proj', 'v_proj']));
    expect(targeted.target_modules).toHaveLength(2);
  });

  it.each([
    ['lora', 'loraAlpha', /"loraAlpha" is not name=value/],
    ['vera', 'loraAlpha=16', /vera has no option "loraAlpha"; its options are .*dInitial/],
    ['lora', 'loraAlpha=many', /--lora-alpha/],
  ])('refuses %s options "%s" with a ConfigError naming it', (method, text, message) => {
    const parse = () => parseMethodOptions(method, text);
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });
});
