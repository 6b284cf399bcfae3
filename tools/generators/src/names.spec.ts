import { describe, expect, it } from 'vitest';
import { GeneratorError, methodNames, quantizerNames } from './names.js';

describe('method names', () => {
  it('follow the lower-case peft_type, so an unknown adapter type points at the right package', () => {
    expect(methodNames('ln_tuning')).toEqual({
      name: 'ln_tuning',
      packageName: '@peft/ln_tuning',
      folder: 'ln_tuning',
      camelName: 'lnTuning',
      pascalName: 'LnTuning',
      snakeName: 'ln_tuning',
      typeName: 'LN_TUNING',
      constantName: 'LN_TUNING',
    });
    expect(methodNames('ia3').pascalName).toBe('Ia3');
  });

  it.each(['IA3', 'my-method', '3d', 'a__b', '', 'lora_'])('refuse %j', (name) => {
    expect(() => methodNames(name)).toThrow(GeneratorError);
  });
});

describe('quantizer names', () => {
  it('become @peft/quant-<name> with the name as scheme', () => {
    expect(quantizerNames('int8-rows')).toEqual({
      name: 'int8-rows',
      packageName: '@peft/quant-int8-rows',
      folder: 'quant-int8-rows',
      camelName: 'int8Rows',
      pascalName: 'Int8Rows',
      snakeName: 'int8_rows',
      typeName: 'int8-rows',
      constantName: 'INT8_ROWS',
    });
  });

  it.each(['Int8', 'int8_rows', 'quant-int8', '-x', 'a--b'])('refuse %j', (name) => {
    expect(() => quantizerNames(name)).toThrow(GeneratorError);
  });
});
