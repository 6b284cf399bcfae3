import { getPeftModel, isAdapterLayer, peftModelFromFiles, saveAdapterFiles } from '@peft/adapter-bridge';
import { TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { ConfigError, PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

function hasAdapterLayers(model: TinyLlamaForCausalLM): boolean {
  return [...model.namedModules()].some(([, m]) => isAdapterLayer(m));
}

describe('LoRA sizes from the config are checked before allocating', () => {
  it('refuses an r whose lora_A / lora_B would not fit, naming the field, layer, tensor and limit', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const before = tf.memory().numTensors;
    const call = () => getPeftModel(model, loraConfig({ r: 1_000_000_000, target_modules: ['q_proj'] }));
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(
      /^model\.layers\.0\.self_attn\.q_proj: adapter config field "r" = 1000000000 would make lora_A\.weight \[1000000000, 16\] hold 16000000000 elements, more than the limit of 268435456 \(2\^28\) for one adapter tensor; use r <= 16777216/,
    );
    expect(hasAdapterLayers(model)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('names the rank_pattern entry that set the rank, and refuses it from a file too', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const config = loraConfig({
      r: 2,
      target_modules: ['q_proj', 'v_proj'],
      rank_pattern: { v_proj: 2 ** 29 },
    });
    expect(() => getPeftModel(model, config)).toThrow(
      /field "rank_pattern\["v_proj"\]" = 536870912 would make lora_A\.weight/,
    );
    expect(hasAdapterLayers(model)).toBe(false);

    const peft = getPeftModel(model, loraConfig({ r: 2, target_modules: ['q_proj'] }));
    const files = saveAdapterFiles(peft);
    peft.unload();
    const json = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
    files.set('adapter_config.json', new TextEncoder().encode(JSON.stringify({ ...json, r: 2 ** 40 })));
    const error = await peftModelFromFiles(model, files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeftError);
    expect((error as PeftError).code).toBe('CONFIG_INVALID');
    expect((error as PeftError).message).toMatch(/"r" = 1099511627776 .* lora_A\.weight/);
    expect(hasAdapterLayers(model)).toBe(false);
    model.dispose();
  });
});
