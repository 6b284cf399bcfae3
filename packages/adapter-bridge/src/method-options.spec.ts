import { ConfigError, RegistryError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { peftModelFromFiles, saveAdapterFiles } from './adapter-files.js';
import {
  type AnyPeftMethod,
  isTrainingCapable,
  MethodContractError,
  type PeftMethodV2,
  requireTrainingCapable,
} from './method.js';
import { adapterConfigFromOptions, genericMethodOptions, parseTargetModules } from './method-options.js';
import { getPeftModel } from './peft-model.js';
import { methodByName, registeredMethods, registerPeftMethod, unregisterPeftMethod } from './registry.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { type ToyConfig, type ToyShared, toyConfig, toyMethod } from './test-support/toy-method.js';
import { TinyLlamaForCausalLM } from './testing/index.js';

/** The toy method upgraded to contract v2, under another peft_type so both can be registered. */
const toyV2: PeftMethodV2<ToyConfig, ToyShared> = {
  ...toyMethod,
  specificationVersion: 'v2',
  peftType: 'TOY',
  name: 'toy',
  training: {
    defaultLearningRate: 0.05,
    options: [
      { name: 'scale', type: 'number', configField: 'scale', description: 'scale: initial shared scale' },
      {
        name: 'dropout',
        type: 'number',
        configField: 'dropout',
        description: 'dropout',
        min: 0,
        max: 0.99,
      },
    ],
    parameterCounts: (_config, targets) => {
      const trainable = targets.reduce((n, t) => n + t.inFeatures + t.outFeatures, 0);
      return { trainable, saved: trainable + 1, frozenBuffers: 1 };
    },
  },
};

/** Another v2 method with an option the toy does not have, for "applies to other, not toy". */
const otherV2: PeftMethodV2<ToyConfig, ToyShared> = {
  ...toyV2,
  peftType: 'OTHER',
  packageName: '@peft/other',
  name: 'other',
  training: {
    ...toyV2.training,
    options: [{ name: 'otherAlpha', type: 'number', configField: 'other_alpha', description: 'other_alpha' }],
  },
};

beforeAll(useCpuBackend);
afterEach(() => {
  unregisterPeftMethod('TOY');
  unregisterPeftMethod('OTHER');
  unregisterPeftMethod('OLDIE');
});

describe('contract v2 methods by name', () => {
  it('finds a v2 method by name, case-insensitively, and lists every registered method', () => {
    registerPeftMethod(toyV2);
    expect(methodByName('toy')).toBe(toyV2);
    expect(methodByName('TOY')).toBe(toyV2);
    expect(registeredMethods()).toContain(toyV2);
    expect(isTrainingCapable(toyV2)).toBe(true);
    expect(requireTrainingCapable(toyV2)).toBe(toyV2);
  });

  it('an unknown name lists the known names, the v1 methods that need an upgrade, and the package to install', () => {
    registerPeftMethod(toyV2);
    registerPeftMethod({ ...toyMethod, peftType: 'OLDIE', packageName: '@peft/oldie' } as AnyPeftMethod);
    let error: unknown;
    try {
      methodByName('ia3');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toMatch(/no PEFT method named "ia3" is registered \(known: .*toy/);
    expect((error as Error).message).toContain(
      'registered without a name: OLDIE (@peft/oldie), which must implement contract v2 (add name and training)',
    );
    expect((error as Error).message).toContain("import '@peft/ia3'");
  });

  it('refuses malformed v2 registrations and a name taken by another method', () => {
    expect(() => registerPeftMethod({ ...toyV2, name: 'Toy' })).toThrow(/not a lower-case name/);
    // Names are PEFT's lower-case peft_type, which may hold underscores (ln_tuning).
    registerPeftMethod({ ...toyV2, name: 'toy_tuning' });
    expect(methodByName('toy_tuning').peftType).toBe('TOY');
    unregisterPeftMethod('TOY');
    expect(() =>
      registerPeftMethod({ ...toyV2, training: { ...toyV2.training, defaultLearningRate: 0 } }),
    ).toThrow(/no valid training block/);
    registerPeftMethod(toyV2);
    expect(() => registerPeftMethod({ ...otherV2, name: 'toy' })).toThrow(
      /named "toy", but @peft\/toy \(peft_type TOY\) already registered that name/,
    );
  });
});

describe('contract v1 methods', () => {
  it('still load and save adapters, but are refused where training information is needed', async () => {
    registerPeftMethod(toyMethod);
    expect(isTrainingCapable(toyMethod)).toBe(false);
    const base = new TinyLlamaForCausalLM();
    const peft = getPeftModel(new TinyLlamaForCausalLM(), toyConfig({ scale: 0.5 }));
    const x = tf.randomNormal([2, 16], 0, 1, 'float32', 3);
    const plain = base.forward(x);
    const expected = (peft.model as TinyLlamaForCausalLM).forward(x);
    const loaded = await peftModelFromFiles(new TinyLlamaForCausalLM(), saveAdapterFiles(peft));
    const got = (loaded.model as TinyLlamaForCausalLM).forward(x);
    expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(Array.from(got.dataSync())).not.toEqual(Array.from(plain.dataSync()));
    tf.dispose([x, plain, expected, got]);
    base.dispose();
    peft.dispose();
    loaded.dispose();

    const upgrade =
      'method TOY from @peft/toy implements contract v1; upgrade it to v2 (add name and training) to use it with peft plan/finetune';
    expect(() => requireTrainingCapable(toyMethod)).toThrow(MethodContractError);
    expect(() => requireTrainingCapable(toyMethod)).toThrow(upgrade);
    expect(() => methodByName('toy')).toThrow(upgrade);
    expect(() => adapterConfigFromOptions('toy', {})).toThrow(upgrade);
  });
});

describe('adapterConfigFromOptions', () => {
  it('maps generic and method options to their config fields and parses with the method', () => {
    registerPeftMethod(toyV2);
    const config = adapterConfigFromOptions('toy', {
      targetModules: 'q_proj, v_proj',
      bias: 'toy_only',
      layersToTransform: [1],
      modulesToSave: ['lm_head'],
      scale: 2,
      dropout: 0.1,
      r: undefined,
    }) as ToyConfig;
    expect(config).toEqual(
      toyConfig({
        target_modules: ['q_proj', 'v_proj'],
        bias: 'toy_only',
        layers_to_transform: [1],
        modules_to_save: ['lm_head'],
        scale: 2,
        dropout: 0.1,
      }),
    );
    expect(adapterConfigFromOptions('toy', { targetModules: 'all-linear' }).target_modules).toBe(
      'all-linear',
    );
    expect(adapterConfigFromOptions('toy', { targetModules: ['o_proj'] }).target_modules).toEqual(['o_proj']);
    // Unset options take the method's defaults.
    expect(adapterConfigFromOptions('toy', {})).toEqual(toyConfig());
  });

  it('refuses an option of another method, and one no method has, naming the flags', () => {
    registerPeftMethod(toyV2);
    registerPeftMethod(otherV2);
    expect(() => adapterConfigFromOptions('toy', { otherAlpha: 3, bogusThing: 1 })).toThrow(
      "--other-alpha (otherAlpha) applies to other, not toy; --bogus-thing (bogusThing) is not an option of toy; toy's options are targetModules, bias, layersToTransform, modulesToSave, scale, dropout",
    );
  });

  it('checks each value against its spec, naming the option', () => {
    registerPeftMethod(toyV2);
    expect(() => adapterConfigFromOptions('toy', { dropout: 1 })).toThrow(ConfigError);
    expect(() => adapterConfigFromOptions('toy', { dropout: 1 })).toThrow(/option "dropout" 1 is not valid/);
    expect(() => adapterConfigFromOptions('toy', { bias: 'lora_only' })).toThrow(
      /option "bias" "lora_only" is not valid \(not an allowed value\): expected one of none, all, toy_only/,
    );
    expect(() => adapterConfigFromOptions('toy', { layersToTransform: [-1] })).toThrow(/layersToTransform/);
    expect(() => adapterConfigFromOptions('toy', { targetModules: [] })).toThrow(/option "targetModules"/);
    expect(() => adapterConfigFromOptions('toy', { targetModules: ' , ' })).toThrow(
      /--target-modules is empty/,
    );
  });

  it('offers the generic options as specs with the method bias value', () => {
    const bias = genericMethodOptions(toyV2).find((o) => o.name === 'bias');
    expect(bias?.choices).toEqual(['none', 'all', 'toy_only']);
    expect(genericMethodOptions(toyV2).map((o) => o.configField)).toEqual([
      'target_modules',
      'bias',
      'layers_to_transform',
      'modules_to_save',
    ]);
  });
});

describe('parseTargetModules', () => {
  it('reads all-linear and regexes as strings and everything else as a list of names', () => {
    expect(parseTargetModules(' all-linear ')).toBe('all-linear');
    expect(parseTargetModules('.*\\.(q|v)_proj')).toBe('.*\\.(q|v)_proj');
    expect(parseTargetModules('q_proj,v_proj')).toEqual(['q_proj', 'v_proj']);
  });
});
