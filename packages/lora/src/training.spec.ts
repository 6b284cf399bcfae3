import {
  adapterConfigFromOptions,
  getPeftModel,
  isTrainingCapable,
  type PeftModel,
  saveAdapterFiles,
} from '@peft/adapter-bridge';
import type { ParameterCountTarget } from '@peft/adapter-bridge/method';
import { TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { DenseLinear, parseSafetensors } from '@peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loraConfig, loraMethod } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { loraParameterCounts } from './training.js';

beforeAll(useCpuBackend);

/** The adapted layers of a real injected model, as a plan would describe them from config.json. */
function targetsOf(peft: PeftModel): ParameterCountTarget[] {
  return peft.adapterLayers().map(([path, layer]) => ({
    path,
    inFeatures: layer.inFeatures,
    outFeatures: layer.outFeatures,
    bias: layer.baseLayer.layer.bias !== null,
  }));
}

/** Elements stored in the saved adapter_model.safetensors. */
function savedElements(peft: PeftModel): number {
  const st = parseSafetensors(saveAdapterFiles(peft).get('adapter_model.safetensors')!);
  return st.keys().reduce((n, key) => n + st.info(key).shape.reduce((a, b) => a * b, 1), 0);
}

const withBiases = () =>
  new TinyLlamaForCausalLM({
    makeLayer: (w, out, inF) => DenseLinear.fromArray(w, out, inF, new Float32Array(out).fill(0.01)),
  });

describe('LoRA training information (contract v2)', () => {
  it('is a v2 method named "lora" with PEFT field names and defaults for its options', () => {
    expect(isTrainingCapable(loraMethod)).toBe(true);
    expect(loraMethod.name).toBe('lora');
    expect(loraMethod.training.defaultLearningRate).toBe(2e-4);
    expect(Object.fromEntries(loraMethod.training.options.map((o) => [o.name, o.configField]))).toEqual({
      r: 'r',
      dropout: 'lora_dropout',
      loraAlpha: 'lora_alpha',
      useRslora: 'use_rslora',
      initLoraWeights: 'init_lora_weights',
    });
    const defaults = loraConfig() as unknown as Record<string, unknown>;
    for (const option of loraMethod.training.options) {
      const value = option.toConfigValue ? option.toConfigValue(option.default) : option.default;
      expect(value, option.name).toEqual(defaults[option.configField]);
    }
  });

  it.each([
    ['default targets', () => new TinyLlamaForCausalLM(), { r: 4 }],
    [
      'all-linear with a rank_pattern',
      () => new TinyLlamaForCausalLM(),
      { r: 2, target_modules: 'all-linear', rank_pattern: { 'mlp\\..*_proj': 5, o_proj: 3 } },
    ],
    [
      'biased layers, bias lora_only',
      withBiases,
      { r: 3, target_modules: ['k_proj', 'up_proj'], bias: 'lora_only' },
    ],
    ['biased layers, bias none', withBiases, { r: 3, target_modules: ['k_proj', 'up_proj'] }],
  ] as const)('parameterCounts matches a real injected model: %s', (_name, makeModel, fields) => {
    const config = loraConfig(fields as Parameters<typeof loraConfig>[0]);
    const peft = getPeftModel(makeModel(), config);
    const counts = loraParameterCounts(config, targetsOf(peft));
    expect(counts.trainable).toBe(peft.parameterCounts().trainable);
    expect(counts.saved).toBe(savedElements(peft));
    expect(counts.frozenBuffers).toBe(0);
    peft.dispose();
  });

  it('builds its adapter config from command-line style options, init_lora_weights converted', () => {
    const config = adapterConfigFromOptions('lora', {
      r: 16,
      targetModules: 'q_proj,v_proj',
      dropout: 0.05,
      loraAlpha: 32,
      useRslora: true,
      initLoraWeights: 'false',
      layersToTransform: [0],
    });
    // The method's own checks run too (PEFT's rule for a string target_modules).
    expect(() =>
      adapterConfigFromOptions('lora', { targetModules: 'all-linear', layersToTransform: [0] }),
    ).toThrow('the lora options: "layers_to_transform" cannot be used when "target_modules" is a str');
    expect(config).toEqual(
      loraConfig({
        r: 16,
        target_modules: ['q_proj', 'v_proj'],
        lora_dropout: 0.05,
        lora_alpha: 32,
        use_rslora: true,
        init_lora_weights: false,
        layers_to_transform: [0],
      }),
    );
    expect(adapterConfigFromOptions('lora', { initLoraWeights: 'gaussian' })).toMatchObject({
      init_lora_weights: 'gaussian',
    });
    expect(adapterConfigFromOptions('lora', { initLoraWeights: true })).toMatchObject({
      init_lora_weights: true,
    });
    expect(() => adapterConfigFromOptions('lora', { initLoraWeights: 'pissa' })).toThrow(
      /option "initLoraWeights" "pissa" is not valid \(not an allowed value\): expected one of true, false, gaussian/,
    );
    expect(() => adapterConfigFromOptions('lora', { dInitial: 0.1 })).toThrow(/--d-initial \(dInitial\)/);
  });
});
