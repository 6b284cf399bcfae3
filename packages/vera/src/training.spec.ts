import {
  adapterConfigFromOptions,
  getPeftModel,
  isTrainingCapable,
  type PeftModel,
  type PeftWarning,
  saveAdapterFiles,
  setWarningHandler,
} from '@peft/adapter-bridge';
import type { ParameterCountTarget } from '@peft/adapter-bridge/method';
import { TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { DenseLinear, parseSafetensors } from '@peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type VeraSharedState, veraConfig, veraMethod } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { veraParameterCounts } from './training.js';

beforeAll(useCpuBackend);
const warnings: PeftWarning[] = [];
setWarningHandler((w) => warnings.push(w));

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

describe('VeRA training information (contract v2)', () => {
  it('is a v2 method named "vera" with PEFT field names for its options', () => {
    expect(isTrainingCapable(veraMethod)).toBe(true);
    expect(veraMethod.name).toBe('vera');
    expect(veraMethod.training.defaultLearningRate).toBe(1e-2);
    expect(Object.fromEntries(veraMethod.training.options.map((o) => [o.name, o.configField]))).toEqual({
      r: 'r',
      dropout: 'vera_dropout',
      dInitial: 'd_initial',
      projectionPrngKey: 'projection_prng_key',
      saveProjection: 'save_projection',
    });
    // The declared defaults are the config's defaults.
    const defaults = veraConfig() as unknown as Record<string, unknown>;
    for (const option of veraMethod.training.options) {
      expect(option.default, option.name).toEqual(defaults[option.configField]);
    }
  });

  it.each([
    ['q_proj/v_proj, projections saved', () => new TinyLlamaForCausalLM(), { r: 4 }],
    [
      'all-linear, projections regenerated',
      () => new TinyLlamaForCausalLM(),
      { r: 8, target_modules: 'all-linear', save_projection: false },
    ],
    [
      'every layer biased, bias vera_only',
      withBiases,
      { r: 6, target_modules: ['q_proj', 'k_proj', 'down_proj'], bias: 'vera_only' },
    ],
    ['biased layers, bias none', withBiases, { r: 6, target_modules: ['up_proj', 'o_proj'] }],
  ] as const)('parameterCounts matches a real injected model: %s', (_name, makeModel, fields) => {
    const config = veraConfig(fields as Parameters<typeof veraConfig>[0]);
    const peft = getPeftModel(makeModel(), config);
    const counts = veraParameterCounts(config, targetsOf(peft));
    expect(counts.trainable).toBe(peft.parameterCounts().trainable);
    expect(counts.saved).toBe(savedElements(peft));
    const { projections } = peft.sharedState('default') as VeraSharedState;
    expect(counts.frozenBuffers).toBe(projections.aT.size + projections.bT.size);
    expect(counts.trainable).toBeGreaterThan(0);
    peft.dispose();
  });

  it('builds its adapter config from command-line style options', () => {
    const config = adapterConfigFromOptions('VeRA', {
      r: 16,
      targetModules: 'q_proj,k_proj',
      dropout: 0.1,
      dInitial: 0.05,
      projectionPrngKey: 3,
      saveProjection: false,
    });
    expect(config).toEqual(
      veraConfig({
        r: 16,
        target_modules: ['q_proj', 'k_proj'],
        vera_dropout: 0.1,
        d_initial: 0.05,
        projection_prng_key: 3,
        save_projection: false,
      }),
    );
    expect(() => adapterConfigFromOptions('vera', { loraAlpha: 16 })).toThrow(
      /--lora-alpha \(loraAlpha\) is not an option of vera/,
    );
    expect(() => adapterConfigFromOptions('vera', { dropout: 1 })).toThrow(/vera_dropout must be below 1/);
    expect(() => adapterConfigFromOptions('vera', { r: 0 })).toThrow(/option "r" 0 is not valid/);
  });

  it('counts nothing for no targets', () => {
    expect(veraParameterCounts(veraConfig(), [])).toEqual({ trainable: 0, saved: 0, frozenBuffers: 0 });
  });
});
