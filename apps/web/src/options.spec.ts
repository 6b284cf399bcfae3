import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, optionsToParams, parseOptions } from './options.js';

describe('run options from the query string or the form', () => {
  it('keeps the defaults for absent fields and reads the ones given', () => {
    expect(parseOptions(new URLSearchParams(''))).toEqual(DEFAULT_OPTIONS);
    const options = parseOptions(new URLSearchParams('steps=8&evalRows=16&lr=0.005&backend=wasm&batch=4'));
    expect(options).toEqual({
      ...DEFAULT_OPTIONS,
      steps: 8,
      evalRows: 16,
      learningRate: 0.005,
      backend: 'wasm',
      batchSize: 4,
    });
  });

  it('reads the method, its options, the quantizer, the sequence length and the prompt', () => {
    const params = new URLSearchParams({
      method: 'lora',
      methodOptions: 'loraAlpha=16 dropout=0.05',
      quantize: 'fp4',
      seqLen: '256',
      prompt: 'Once upon a time',
    });
    expect(parseOptions(params)).toEqual({
      ...DEFAULT_OPTIONS,
      method: 'lora',
      methodOptions: 'loraAlpha=16 dropout=0.05',
      quantize: 'fp4',
      seqLen: 256,
      prompt: 'Once upon a time',
    });
    expect(parseOptions(optionsToParams(parseOptions(params)))).toEqual(parseOptions(params));
  });

  it('round-trips through optionsToParams, writing only what differs from the defaults', () => {
    const options = { ...DEFAULT_OPTIONS, steps: 8, r: 64, backend: 'webgpu' as const };
    const params = optionsToParams(options);
    expect(params.toString()).toBe('steps=8&r=64&backend=webgpu');
    expect(parseOptions(params)).toEqual(options);
    expect(optionsToParams(DEFAULT_OPTIONS).toString()).toBe('');
  });

  it.each([
    ['steps=abc', /option "steps": "abc" is not a number/],
    ['steps=', /option "steps": "" is not a number/],
    ['steps=2.5', /option "steps": 2.5 must be a whole number/],
    ['steps=0', /option "steps": 0 must be at least 1/],
    ['batch=-3', /option "batch": -3 must be at least 1/],
    ['lr=0', /option "lr": 0 must be above 0/],
    ['lr=Infinity', /option "lr": "Infinity" is not a number/],
    ['words=65', /option "words": 65 must be at least 0 and at most 64/],
    ['backend=webgl', /option "backend": "webgl" is not one of auto, webgpu, wasm, cpu/],
    ['method=ia3', /option "method": "ia3" is not one of vera, lora/],
    ['quantize=int8', /option "quantize": "int8" is not one of nf4, fp4, none/],
    ['seqLen=4', /option "seqLen": 4 must be at least 8/],
    [`prompt=${'x'.repeat(4097)}`, /option "prompt": 4097 characters, at most 4096/],
  ])('rejects %s with a ConfigError naming the option', (query, message) => {
    const parse = () => parseOptions(new URLSearchParams(query));
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });
});
