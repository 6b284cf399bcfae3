import {
  type AdapterFiles,
  getPeftModel,
  peftModelFromFiles,
  saveAdapterFiles,
  setWarningHandler,
} from '@peft/adapter-bridge';
import { mutateAdapterFiles, seededRandom, TinyLlamaForCausalLM } from '@peft/adapter-bridge/testing';
import { PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { veraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
// Mutated configs warn (unknown keys, regenerated projections); the outcome is what is checked here.
setWarningHandler(() => undefined);

function seedFolders(): AdapterFiles[] {
  return [
    veraConfig({ r: 4, target_modules: ['q_proj', 'down_proj'] }),
    veraConfig({ r: 8, target_modules: 'all-linear', save_projection: false }),
  ].map((config) => {
    const peft = getPeftModel(new TinyLlamaForCausalLM({ layers: 2 }), config);
    const files = saveAdapterFiles(peft);
    peft.dispose();
    return files;
  });
}

describe('VERA adapter folders, mutated (seeded fuzz)', () => {
  it('load or fail with a typed PeftError (hostile r, shapes, regexes included), leaking nothing', async () => {
    const seeds = seedFolders();
    const random = seededRandom(1204);
    const outcomes = new Set<string>();
    for (let i = 0; i < 250; i++) {
      const files = mutateAdapterFiles(seeds[i % seeds.length]!, random);
      const before = tf.memory().numTensors;
      const model = new TinyLlamaForCausalLM({ layers: 2 });
      try {
        (await peftModelFromFiles(model, files)).dispose();
        outcomes.add('loaded');
      } catch (error) {
        if (!(error instanceof PeftError)) {
          throw new Error(`case ${i} (seed 1204): not a PeftError: ${String(error)}`, { cause: error });
        }
        outcomes.add(error.code);
        model.dispose();
      }
      expect(tf.memory().numTensors, `case ${i}: tensors left behind`).toBe(before);
    }
    expect([...outcomes]).toEqual(
      expect.arrayContaining(['loaded', 'CONFIG_INVALID', 'SAFETENSORS_INVALID']),
    );
  });
});
