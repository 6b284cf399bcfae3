import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdapterFiles, peftModelFromFiles, saveAdapterFiles } from './adapter-files.js';
import { peftModelFromFolder } from './node.js';
import { getPeftModel } from './peft-model.js';
import { registerPeftMethod } from './registry.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { toyConfig, toyMethod } from './test-support/toy-method.js';
import { mutateAdapterFiles, seededRandom, TinyLlamaForCausalLM } from './testing/index.js';
import { setWarningHandler } from './warnings.js';

let dir: string;
beforeAll(async () => {
  await useCpuBackend();
  registerPeftMethod(toyMethod);
  dir = await mkdtemp(join(tmpdir(), 'peft-bridge-fuzz-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
// Mutated configs warn about unknown keys and such; the outcome is what is checked here.
setWarningHandler(() => undefined);

/** Valid folders to start from: a list target, a regex target with modules_to_save, two adapters. */
function seedFolders(): AdapterFiles[] {
  const folders: AdapterFiles[] = [];
  const configs = [
    toyConfig({ target_modules: ['q_proj', 'down_proj'], scale: 0.5 }),
    toyConfig({ target_modules: '.*\\.(k|v)_proj', modules_to_save: ['lm_head'], task_type: 'CAUSAL_LM' }),
  ];
  for (const config of configs) {
    const peft = getPeftModel(new TinyLlamaForCausalLM({ layers: 2 }), config);
    folders.push(saveAdapterFiles(peft));
    peft.dispose();
  }
  return folders;
}

/** Loads `load()`'s result or checks its error is a PeftError; either way nothing is left allocated. */
async function expectLoadedOrTyped(
  load: (model: TinyLlamaForCausalLM) => Promise<{ dispose(): void }>,
  label: string,
): Promise<'loaded' | string> {
  const before = tf.memory().numTensors;
  const model = new TinyLlamaForCausalLM({ layers: 2 });
  let outcome: string;
  try {
    (await load(model)).dispose();
    outcome = 'loaded';
  } catch (error) {
    if (!(error instanceof PeftError)) {
      throw new Error(`${label}: not a PeftError: ${String(error)}`, { cause: error });
    }
    expect(error.message.length, label).toBeGreaterThan(0);
    outcome = error.code;
    model.dispose();
  }
  expect(tf.memory().numTensors, `${label}: tensors left behind`).toBe(before);
  return outcome;
}

describe('adapter loader fuzz (seeded)', () => {
  it('in memory: every mutated folder loads or fails with a typed PeftError, leaking nothing', async () => {
    const seeds = seedFolders();
    const random = seededRandom(20261204);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const files = mutateAdapterFiles(seeds[i % seeds.length]!, random);
      const outcome = await expectLoadedOrTyped(
        (model) => peftModelFromFiles(model, files),
        `case ${i} (seed 20261204)`,
      );
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The mutations reach past the first check: several kinds of error, and some folders still load.
    expect([...outcomes.keys()]).toEqual(
      expect.arrayContaining([
        'loaded',
        'CONFIG_INVALID',
        'ADAPTER_FILE',
        'SAFETENSORS_INVALID',
        'ADAPTER_MISMATCH',
      ]),
    );
  });

  it('on disk: the same holds through peftModelFromFolder', async () => {
    const seeds = seedFolders();
    const random = seededRandom(7);
    for (let i = 0; i < 60; i++) {
      const files = mutateAdapterFiles(seeds[i % seeds.length]!, random);
      const folder = join(dir, `case-${i}`);
      await mkdir(folder, { recursive: true });
      for (const [name, bytes] of files) {
        await mkdir(dirname(join(folder, name)), { recursive: true });
        await writeFile(join(folder, name), bytes);
      }
      await expectLoadedOrTyped((model) => peftModelFromFolder(model, folder), `disk case ${i} (seed 7)`);
    }
  });
});
