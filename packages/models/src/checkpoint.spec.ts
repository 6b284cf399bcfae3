import { stateDictSource } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { loadLlama } from './load.js';
import type { LlamaForCausalLM } from './model.js';
import { inject, TEST_RANDOM } from './test-support/low-rank.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, TINY_CONFIGS, tinyStateDict } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

async function modelWithAdapters(layers: number, dropout = 0): Promise<LlamaForCausalLM> {
  const config = parseLlamaConfig({ ...TINY_CONFIGS['llama GQA untied'], num_hidden_layers: layers });
  const model = await loadLlama(stateDictSource(tinyStateDict(config, 5), 'tiny'), config);
  // Trainable variables inside decoder layers, as an injected adapter puts them there.
  inject(model, 'model.layers.0.self_attn.q_proj', 21, dropout);
  inject(model, 'model.layers.0.mlp.up_proj', 22, dropout);
  inject(model, `model.layers.${layers - 1}.self_attn.o_proj`, 23, dropout);
  return model;
}

function batchOf(time: number) {
  const row = (offset: number) => Array.from({ length: time }, (_, t) => (t * 7 + offset) % 61);
  return {
    inputIds: [row(1), row(2)],
    attentionMask: [Array(time).fill(1), [0, 0, ...Array(time - 2).fill(1)]],
    labels: [row(1), [-100, -100, ...row(2).slice(2)]],
  };
}

interface Step {
  loss: number;
  grads: Float32Array[];
  /** Tensors and bytes alive between the forward and the backward pass, above those before the step. */
  heldTensors: number;
  heldBytes: number;
}

function step(model: LlamaForCausalLM, batch: ReturnType<typeof batchOf>): Step {
  const variables = model.trainableVariables();
  const start = tf.memory();
  let held = { tensors: 0, bytes: 0 };
  const { value, grads } = tf.variableGrads(() => {
    const loss = model.loss(batch);
    const now = tf.memory();
    held = { tensors: now.numTensors - start.numTensors, bytes: now.numBytes - start.numBytes };
    return loss;
  }, variables);
  const result = {
    loss: value.dataSync()[0]!,
    grads: variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
    heldTensors: held.tensors,
    heldBytes: held.bytes,
  };
  tf.dispose([value, ...Object.values(grads)]);
  return result;
}

describe('gradient checkpointing', () => {
  it('gives the same loss and gradients, including adapter variables inside the layers', async () => {
    const model = await modelWithAdapters(3);
    const batch = batchOf(10);
    const plain = step(model, batch);
    model.enableGradientCheckpointing();
    expect(model.gradientCheckpointing).toBe(true);
    const checkpointed = step(model, batch);
    expect(checkpointed.loss).toBe(plain.loss);
    expect(checkpointed.grads).toHaveLength(6);
    checkpointed.grads.forEach((g, i) => {
      expect(Math.max(...g.map(Math.abs)), `gradient ${i}`).toBeGreaterThan(1e-6);
      // The recomputation runs the same kernels on the same inputs: float32 rounding at most.
      expect(relativeError(g, plain.grads[i]!), `gradient ${i}`).toBeLessThan(1e-5);
    });
    model.disableGradientCheckpointing();
    expect(model.gradientCheckpointing).toBe(false);
    model.dispose();
  });

  it('keeps fewer tensors and bytes between the forward and the backward pass, and leaks none', async () => {
    const model = await modelWithAdapters(4);
    const batch = batchOf(24);
    const plain = step(model, batch);
    model.enableGradientCheckpointing();
    const checkpointed = step(model, batch);
    // Plain keeps every op's saved inputs in every layer; checkpointing one input per layer and the masks.
    expect(checkpointed.heldTensors).toBeLessThan(plain.heldTensors / 4);
    expect(checkpointed.heldBytes).toBeLessThan(plain.heldBytes / 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      step(model, batch);
      expect(tf.memory().numTensors).toBe(before);
    }
    model.dispose();
  });

  it('replays the random stream of adapter dropout when given one', async () => {
    const model = await modelWithAdapters(2, 0.3);
    const batch = batchOf(8);
    TEST_RANDOM.set({ seed: 3, draws: 0 });
    const plain = step(model, batch);
    model.enableGradientCheckpointing({ randomState: TEST_RANDOM });
    TEST_RANDOM.set({ seed: 3, draws: 0 });
    const replayed = step(model, batch);
    expect(replayed.loss).toBe(plain.loss);
    for (const [i, g] of replayed.grads.entries()) {
      expect(relativeError(g, plain.grads[i]!)).toBeLessThan(1e-5);
    }
    // The forward's draws only: the recomputation put the stream back where it was.
    expect(TEST_RANDOM.state.draws).toBe(3);

    // Without replay the recomputation draws new masks, and the gradients are those of another loss.
    model.enableGradientCheckpointing();
    TEST_RANDOM.set({ seed: 3, draws: 0 });
    const unreplayed = step(model, batch);
    expect(unreplayed.loss).toBe(plain.loss);
    expect(relativeError(unreplayed.grads[0]!, plain.grads[0]!)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('leaves generation with a cache as it was', async () => {
    const model = await modelWithAdapters(2);
    const run = () => {
      const cache = model.createCache(1);
      const first = model.forward({ inputIds: [[1, 2, 3]], cache });
      const next = model.forward({ inputIds: [[4]], cache });
      const values = [...first.logits.dataSync(), ...next.logits.dataSync()];
      tf.dispose([first.logits, next.logits]);
      cache.dispose();
      return values;
    };
    const plain = run();
    model.enableGradientCheckpointing();
    expect(run()).toEqual(plain);
    model.dispose();
  });
});
