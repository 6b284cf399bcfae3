import { getPeftModel, isAdapterLayer, peftModelFromFiles, saveAdapterFiles } from '@peft/adapter-bridge';
import { MAX_ADAPTER_TENSOR_ELEMENTS } from '@peft/adapter-bridge/method';
import { TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { ConfigError, PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { veraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

function hasAdapterLayers(model: TinyLlamaForCausalLM): boolean {
  return [...model.namedModules()].some(([, m]) => isAdapterLayer(m));
}

describe('VeRA sizes from the config are checked before allocating', () => {
  it('refuses an r whose projections would not fit, naming the field, the tensor and the limit', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const before = tf.memory().numTensors;
    // q_proj and v_proj: widest input 16, so vera_A is [r, 16].
    const call = () =>
      getPeftModel(model, veraConfig({ r: 1_000_000_000, target_modules: ['q_proj', 'v_proj'] }));
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(
      `VeRA adapter "default": adapter config field "r" = 1000000000 would make vera_A [1000000000, 16] hold ` +
        `16000000000 elements, more than the limit of ${MAX_ADAPTER_TENSOR_ELEMENTS} (2^28) for one adapter ` +
        `tensor; use r <= ${MAX_ADAPTER_TENSOR_ELEMENTS / 16} for this model`,
    );
    // Nothing was injected or allocated.
    expect(hasAdapterLayers(model)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('refuses it the same way when the r comes from an adapter_config.json', async () => {
    const peft = getPeftModel(
      new TinyLlamaForCausalLM({ layers: 1 }),
      veraConfig({ r: 4, target_modules: ['q_proj'] }),
    );
    const files = saveAdapterFiles(peft);
    peft.dispose();
    const config = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
    files.set(
      'adapter_config.json',
      new TextEncoder().encode(JSON.stringify({ ...config, r: 1_000_000_000 })),
    );
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const error = await peftModelFromFiles(model, files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeftError);
    expect((error as PeftError).code).toBe('CONFIG_INVALID');
    expect((error as PeftError).message).toMatch(/"r" = 1000000000 .* vera_A .* limit of 268435456/);
    expect(hasAdapterLayers(model)).toBe(false);
    model.dispose();
  });
});
