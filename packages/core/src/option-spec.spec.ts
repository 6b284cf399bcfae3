import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import {
  checkOptionValue,
  type OptionSpec,
  optionFlag,
  parseOptionValue,
  resolveOptionValues,
} from './option-spec.js';

const blocksize: OptionSpec = {
  name: 'blocksize',
  type: 'int',
  description: 'elements per absmax block',
  default: 64,
  choices: [64, 128, 256],
};
const loraAlpha: OptionSpec = { name: 'loraAlpha', type: 'number', description: 'lora_alpha', min: 0 };
const dropout: OptionSpec = { name: 'dropout', type: 'number', description: 'p', min: 0, max: 0.99 };
const doubleQuant: OptionSpec = { name: 'doubleQuant', type: 'boolean', description: 'dq', default: true };
const init: OptionSpec = {
  name: 'initLoraWeights',
  type: 'string',
  description: 'init_lora_weights',
  choices: ['true', 'false', 'gaussian'],
};
const layers: OptionSpec = { name: 'layersToTransform', type: 'int-list', description: 'layers', min: 0 };
const names: OptionSpec = { name: 'modulesToSave', type: 'string-list', description: 'modules_to_save' };

describe('optionFlag', () => {
  it('spells the camelCase key as a kebab-case flag', () => {
    expect(optionFlag(loraAlpha)).toBe('--lora-alpha');
    expect(optionFlag(blocksize)).toBe('--blocksize');
    expect(optionFlag({ name: 'projectionPrngKey' })).toBe('--projection-prng-key');
  });
});

describe('parseOptionValue', () => {
  it('types each kind of command-line string', () => {
    expect(parseOptionValue(blocksize, '128')).toBe(128);
    expect(parseOptionValue(loraAlpha, ' 16.5 ')).toBe(16.5);
    expect(parseOptionValue(doubleQuant, 'false')).toBe(false);
    expect(parseOptionValue(doubleQuant, 'TRUE')).toBe(true);
    expect(parseOptionValue(init, 'gaussian')).toBe('gaussian');
    expect(parseOptionValue(layers, '0, 2,3')).toEqual([0, 2, 3]);
    expect(parseOptionValue(names, 'lm_head,embed_tokens')).toEqual(['lm_head', 'embed_tokens']);
  });

  it.each([
    [blocksize, '100', '--blocksize "100" is not valid (not an allowed value): expected one of 64, 128, 256'],
    [blocksize, '64.5', '--blocksize "64.5" is not valid: expected one of 64, 128, 256'],
    [blocksize, '', '--blocksize "" is not valid'],
    [loraAlpha, 'abc', '--lora-alpha "abc" is not valid: expected a finite number >= 0'],
    [loraAlpha, '-1', '--lora-alpha "-1" is not valid (below the minimum 0)'],
    [loraAlpha, 'Infinity', '--lora-alpha "Infinity" is not valid'],
    [
      dropout,
      '1',
      '--dropout "1" is not valid (above the maximum 0.99): expected a finite number in [0, 0.99]',
    ],
    [doubleQuant, 'yes', '--double-quant "yes" is not valid: expected true or false'],
    [init, 'kaiming', '--init-lora-weights "kaiming" is not valid (not an allowed value)'],
    [layers, '0,,1', '--layers-to-transform "0,,1" is not valid (an empty element)'],
    [layers, '0,x', '--layers-to-transform "0,x" is not valid ("x" is not an integer)'],
    [layers, '0,-1', '--layers-to-transform "0,-1" is not valid (-1 is below the minimum 0)'],
    [names, ' ', '--modules-to-save " " is not valid (an empty element)'],
  ])('refuses a bad string for %o, naming the flag', (spec, raw, message) => {
    let error: unknown;
    try {
      parseOptionValue(spec, raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toContain(message);
  });
});

describe('checkOptionValue', () => {
  it('accepts values of the right type within bounds and choices', () => {
    expect(() => checkOptionValue(blocksize, 256)).not.toThrow();
    expect(() => checkOptionValue(doubleQuant, false)).not.toThrow();
    expect(() => checkOptionValue(layers, [0, 5])).not.toThrow();
    expect(() => checkOptionValue(names, ['lm_head'])).not.toThrow();
    expect(() => checkOptionValue(dropout, 0)).not.toThrow();
    expect(() => checkOptionValue(dropout, 0.99)).not.toThrow();
  });

  it.each([
    [blocksize, '64', 'option "blocksize" "64" is not valid: expected one of 64, 128, 256'],
    [blocksize, 32, 'option "blocksize" 32 is not valid (not an allowed value)'],
    [loraAlpha, Number.NaN, 'option "loraAlpha" NaN is not valid'],
    [doubleQuant, 1, 'option "doubleQuant" 1 is not valid: expected true or false'],
    [layers, [], 'option "layersToTransform" [] is not valid (not a non-empty list)'],
    [layers, [0, 1.5], 'option "layersToTransform" [0,1.5] is not valid'],
    [names, 'lm_head', 'option "modulesToSave" "lm_head" is not valid (not a non-empty list)'],
    [init, undefined, 'option "initLoraWeights" undefined is not valid'],
  ])('refuses a bad typed value for %o, naming the option', (spec, value, message) => {
    expect(() => checkOptionValue(spec, value)).toThrow(ConfigError);
    expect(() => checkOptionValue(spec, value)).toThrow(message);
  });
});

describe('resolveOptionValues', () => {
  it('fills defaults, keeps given values, and skips options without a default', () => {
    expect(resolveOptionValues([blocksize, doubleQuant, loraAlpha], { doubleQuant: false }, 'q')).toEqual({
      blocksize: 64,
      doubleQuant: false,
    });
    expect(resolveOptionValues([blocksize], { blocksize: 256, extra: undefined }, 'q')).toEqual({
      blocksize: 256,
    });
  });

  it('refuses unknown keys naming them and the known ones, and bad values naming the option', () => {
    expect(() =>
      resolveOptionValues([blocksize, doubleQuant], { blockSize: 64, dq: true }, 'quantizer "nf4"'),
    ).toThrow('quantizer "nf4" has no option "blockSize", "dq"; its options are blocksize, doubleQuant');
    expect(() => resolveOptionValues([blocksize], { blocksize: 100 }, 'q')).toThrow(/option "blocksize" 100/);
  });
});
